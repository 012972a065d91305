"""Page logic: one module per page, each with a ``render()`` that the thin files in
``dashboard/app_pages/`` call. Importable and tested with Streamlit's ``AppTest``."""
