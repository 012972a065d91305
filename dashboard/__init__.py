"""Streamlit pages for planners; no SQL and no torch code of its own."""
