"""Language choice: the user's pick, else the browser's preference."""
from __future__ import annotations

from flask import Flask, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user

LANGUAGE_NAMES = {"en": "English", "zh_Hans": "简体中文"}


def select_locale() -> str:
    if not has_request_context():
        return "en"
    chosen = session.get("locale")
    if chosen in LANGUAGE_NAMES:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGE_NAMES:
        return current_user.locale
    # Browsers send zh-CN, zh-Hans-CN, zh-SG …; all read Simplified Chinese.
    best = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-Hans", "zh-SG"], default="en")
    return "zh_Hans" if best.startswith("zh") else "en"


def html_lang() -> str:
    return "zh-Hans" if str(get_locale()) == "zh_Hans" else "en"


def init_app(app: Flask) -> None:
    @app.context_processor
    def language_context():
        return {"languages": LANGUAGE_NAMES, "html_lang": html_lang(), "current_locale": str(get_locale())}

