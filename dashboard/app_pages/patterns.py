from dashboard.views import patterns

patterns.render()
