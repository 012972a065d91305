from dashboard.views import ingestion

ingestion.render()
