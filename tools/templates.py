"""The reports' Markdown comes from Jinja2 templates next to the code that fills them."""

from pathlib import Path
from typing import Any

import jinja2


def render(template: Path, **context: Any) -> str:
    """Block tags take their whole line (trim/lstrip), so the template reads like the Markdown it makes;
    a name the template uses but the context lacks is an error, not an empty string."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template.parent),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template(template.name).render(**context)
