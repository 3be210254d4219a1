"""Small fixes to the HTML that Jupyter Book 1.x writes, so pages load with a clean console.

- sphinx-thebe and sphinx-togglebutton register their inline configuration scripts twice under
  Jupyter Book 1.0.4 (``const THEBE_JS_URL`` declared twice -> "Uncaught SyntaxError" on every
  page): keep the first copy of every identical script.
"""


def _dedupe(scripts: list) -> None:
    seen, unique = set(), []
    for script in scripts:
        attrs = getattr(script, "attributes", {}) or {}
        key = (
            str(getattr(script, "filename", script) or ""),
            tuple(sorted(map(str, attrs.items()))),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: Sphinx renders from (and restores) these very lists


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    _dedupe(getattr(app.builder, "_orig_js_files", []))
    _dedupe(context.get("script_files", []))


def setup(app):
    # Early (priority < 500): html-page-context stops at the first handler returning a value.
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
