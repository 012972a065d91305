from dashboard.views import detect

detect.render()
