from dashboard.views import map_page

map_page.render()
