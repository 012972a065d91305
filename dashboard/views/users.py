"""Users (admins only): who may log in, with which role."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import state
from db import users as user_queries
from db.engine import transaction
from db.users import ROLES, UserError

TIME_FORMAT = "YYYY-MM-DD HH:mm"


def _list() -> pd.DataFrame:
    with transaction(state.engine()) as session:
        return pd.DataFrame(user_queries.list_all(db_session=session))


def _add_form() -> None:
    with st.form("users_add", clear_on_submit=True):
        st.markdown("**Add a user**")
        c1, c2, c3 = st.columns(3)
        username = c1.text_input("Username", key="users_new_name")
        password = c2.text_input("Password", type="password", key="users_new_password")
        role = c3.selectbox("Role", ROLES, key="users_new_role")
        if st.form_submit_button("Add user", type="primary"):
            try:
                with transaction(state.engine()) as session:
                    user_queries.create(
                        db_session=session, username=username, password=password, role=role
                    )
            except UserError as exc:
                st.error(str(exc))
            else:
                st.success(f"Added {username} ({role}).")


def _change_form(names: list[str], me: str) -> None:
    with st.form("users_change"):
        st.markdown("**Change a user**")
        c1, c2, c3 = st.columns(3)
        username = c1.selectbox("User", names, key="users_change_name")
        role = c2.selectbox("New role", ["(keep)", *ROLES], key="users_change_role")
        active = c3.selectbox(
            "Account", ["(keep)", "active", "disabled"], key="users_change_active"
        )
        password = st.text_input(
            "New password (leave empty to keep)", type="password", key="users_change_password"
        )
        if st.form_submit_button("Save changes"):
            if username == me and (active == "disabled" or role not in ("(keep)", "admin")):
                st.error("You cannot disable yourself or remove your own admin role.")
                return
            try:
                with transaction(state.engine()) as session:
                    if role != "(keep)":
                        user_queries.set_role(db_session=session, username=username, role=role)
                    if active != "(keep)":
                        user_queries.set_active(
                            db_session=session, username=username, active=active == "active"
                        )
                    if password:
                        user_queries.set_password(
                            db_session=session, username=username, password=password
                        )
            except UserError as exc:
                st.error(str(exc))
            else:
                st.success(f"Saved {username}.")


def render() -> None:
    me = state.require("admin")
    st.title("Users")
    st.caption(
        "Viewers see the map, patterns, ingestion and the detect page; reviewers can also review "
        "detections; admins can also manage users. Passwords are stored as Argon2 hashes."
    )
    _add_form()
    frame = _list()
    _change_form(list(frame["username"]) if not frame.empty else [], me.username)
    frame = _list()
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "created_at": st.column_config.DatetimeColumn("created (UTC)", format=TIME_FORMAT),
            "last_login_at": st.column_config.DatetimeColumn(
                "last login (UTC)", format=TIME_FORMAT
            ),
        },
        width="stretch",
    )
