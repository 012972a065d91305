"""WasteMap dashboard: ``wastemap dashboard`` (or ``streamlit run dashboard/app.py``).

The entry script only decides which pages the logged-in user may open (``st.navigation``); each
page in ``app_pages/`` calls its logic in ``dashboard.views``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import state
from dashboard.views import login

PAGES = Path(__file__).resolve().parent / "app_pages"
ICON = Path(__file__).resolve().parent / "favicon.png"

st.set_page_config(page_title="WasteMap", page_icon=str(ICON), layout="wide")


def _page(file: str, title: str, icon: str, *, default: bool = False) -> st.Page:
    return st.Page(
        str(PAGES / file),
        title=title,
        icon=icon,
        url_path=file.removesuffix(".py"),
        default=default,
    )


state.write_login_cookie()
state.show_flash()
# the login is checked once per run; the page's state.require reuses it
with state.login_for_this_run() as user:
    if user is None:
        pages = st.navigation([st.Page(login.render, title="Log in", icon=":material/login:")])
    else:
        sections: dict[str, list[st.Page]] = {
            "Explore": [
                _page("map.py", "Map", ":material/map:", default=True),
                _page("patterns.py", "Patterns", ":material/insights:"),
            ],
            "Detector": [_page("detect.py", "Detect", ":material/center_focus_strong:")],
            "Operations": [
                _page("routes.py", "Sites & routes", ":material/route:"),
                _page("ingestion.py", "Ingestion", ":material/cloud_upload:"),
            ],
        }
        if user.can("reviewer"):
            sections["Detector"].append(_page("review.py", "Review", ":material/fact_check:"))
        if user.can("admin"):
            sections["Operations"].append(_page("users.py", "Users", ":material/group:"))
        pages = st.navigation(sections)
        with st.sidebar:
            st.markdown(f"Logged in as **{user.username}** · {user.role}")
            if st.button("Log out", key="logout", icon=":material/logout:"):
                login.logout()
            st.divider()
    pages.run()
