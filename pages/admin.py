"""/admin: the administration sections the viewer may open, one card each.

Open to anyone signed in (it shows no data, only links): a viewer holding none of the admin
permissions is told so; each section's own page checks its own permission.
"""

from __future__ import annotations

import dash
import dash_mantine_components as dmc
from dash import html

from backend.access.permissions import DESCRIPTIONS
from components.admin_nav import admin_nav, allowed_sections

dash.register_page(__name__, path="/admin", title="Admin", name="Admin", order=8)


def layout(**_query: str) -> html.Div:
    sections = allowed_sections()
    if not sections:
        body = dmc.Alert("Your account holds no administration rights. Ask an administrator if you need them.",
                         color="gray", variant="light", id="admin-none")
    else:
        body = dmc.SimpleGrid([
            dmc.Anchor(dmc.Paper([dmc.Text(label, fw=600), dmc.Text(DESCRIPTIONS[need], size="sm", c="dimmed")],
                                 withBorder=True, p="md", radius="sm"),
                       href=path, underline="never", id={"type": "admin-card", "path": path})
            for path, label, need in sections
        ], cols={"base": 1, "sm": 2, "lg": 3}, spacing="sm")
    return html.Div([admin_nav("/admin"), dmc.Title("Administration", order=2, mb="sm"), body],
                    className="admin-page")
