from dashboard.views import routes

routes.render()
