"""Shown for any path that is not a page: a way back, not a dead end."""

import dash
import dash_mantine_components as dmc
from dash import html

dash.register_page(__name__, path="/404", title="Not found", nav=False)


def layout(**_query: str) -> dmc.Stack:
    return dmc.Stack(
        [
            dmc.Title("This page does not exist", order=2),
            dmc.Text("The link may be old, or mistyped. Everything else is where it was."),
            html.A("Go to the overview", href="/"),
        ],
        gap="sm",
        p="lg",
    )
