"""The login page: nobody sees data before logging in."""

from __future__ import annotations

import time

import streamlit as st

from dashboard import state

_FAILURES_KEY = "login_failures"


def render() -> None:
    _, middle, _ = st.columns([1, 1.3, 1])
    with middle:
        st.title("WasteMap")
        st.caption("Litter found in street imagery, mapped for the city's planners.")
        try:
            has_users = state.user_count() > 0
        except Exception as exc:  # the database is missing or not migrated
            st.error(f"The database cannot be opened: {exc}")
            st.stop()
        if not has_users:
            st.info(
                "No user accounts exist yet. An administrator creates the first one with "
                "`wastemap users add NAME --role admin`."
            )
        with st.form("login_form"):
            username = st.text_input("Username", key="login_username", max_chars=100)
            password = st.text_input(
                "Password", type="password", key="login_password", max_chars=200
            )
            submitted = st.form_submit_button("Log in", type="primary", width="stretch")
        if submitted:
            user = state.authenticate(username, password) if username and password else None
            if user is None:
                failures = st.session_state.get(_FAILURES_KEY, 0) + 1
                st.session_state[_FAILURES_KEY] = failures
                time.sleep(min(0.25 * failures, 2.0))  # slow down password guessing
                st.error("Wrong username or password.")
            else:
                st.session_state[_FAILURES_KEY] = 0
                state.log_in(user)
                st.rerun()


def logout() -> None:
    state.log_out()
    st.rerun()
