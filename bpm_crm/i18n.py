"""Translation helpers usable anywhere: lazy, so they resolve in the reader's locale."""
from flask_babel import lazy_gettext

_ = lazy_gettext
