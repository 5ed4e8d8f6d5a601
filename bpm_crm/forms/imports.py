"""The upload form of the customer and contact import."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField

from bpm_crm.i18n import _

KIND_CHOICES = [("customers", _("客户")), ("contacts", _("联系人"))]


class ImportUploadForm(FlaskForm):
    """Step 1: what is imported and the file (.xlsx or .csv)."""

    kind = SelectField(_("导入内容"), choices=KIND_CHOICES, default="customers")
    file = FileField(_("文件"), validators=[FileRequired(_("请选择要上传的文件"))])
