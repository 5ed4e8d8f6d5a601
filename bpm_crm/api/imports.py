"""Customer and contact import (导入): upload, column mapping, preview of every row, commit all or nothing."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import json_object
from bpm_crm.api.openapi import INT, N_STR, STR, TIME, nullable, obj, operation, path_id, ref
from bpm_crm.errors import Invalid
from bpm_crm.i18n import _
from bpm_crm.models import ImportJob
from bpm_crm.services import excel, import_rows, imports
from bpm_crm.services.imports import Preview


def job_json(job: ImportJob) -> dict[str, Any]:
    """An import job: its file, the mapping and rule, the fields it may map to, the result once committed."""
    return {
        "id": job.id, "kind": job.kind, "filename": job.filename, "status": job.status,
        "headers": list(job.headers), "mapping": dict(job.mapping or {}), "duplicate_rule": job.duplicate_rule,
        "row_count": len(job.rows),
        "fields": [{"name": spec.name, "label": spec.label, "required": spec.required}
                   for spec in import_rows.FIELDS[job.kind]],
        "duplicate_rules": dict(import_rows.DUPLICATE_RULES[job.kind]),
        "result": job.result, "created_at": schemas.timestamp(job.created_at),
    }


def preview_json(preview: Preview) -> dict[str, Any]:
    """The check of every row: counts, mapping problems, and each row's values, errors and duplicate note."""
    return {
        "job": job_json(preview.job),
        "counts": {"total": preview.total, "ready": preview.ready_count, "duplicates": preview.duplicate_count,
                   "errors": preview.error_count},
        "can_commit": preview.can_commit,
        "mapping_errors": {name: [str(issue) for issue in issues] for name, issues in preview.mapping_errors.items()},
        "rows": [{"line": row.line, "status": row.status, "values": row.values,
                  "errors": [str(issue) for issue in row.errors],
                  "duplicate": str(row.duplicate) if row.duplicate else None} for row in preview.rows],
    }


@bp.get("/imports")
def list_imports() -> Response:
    """The caller's latest customer and contact imports, newest first."""
    return jsonify({"items": [job_json(job) for job in imports.recent_jobs(user=current_user())]})


@bp.post("/imports")
def upload_import() -> tuple[Response, int, dict[str, str]]:
    """Step 1: upload an .xlsx/.csv (multipart: file, kind); the answer has the headers and guessed mapping."""
    user = current_user()
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    if upload is None or not upload.filename:
        raise Invalid(str(_("请以 multipart/form-data 上传文件")), {"file": [str(_("请选择要上传的文件"))]})
    job = imports.upload(user=user, kind=request.form.get("kind", ""), filename=upload.filename,
                         data=upload.read(excel.MAX_UPLOAD_BYTES + 1))
    return jsonify(job_json(job)), 201, {"Location": url_for("api.get_import", job_id=job.id)}


@bp.get("/imports/<id:job_id>")
def get_import(job_id: int) -> Response:
    """Step 3: every row checked under the current mapping and duplicate rule; nothing is written."""
    return jsonify(preview_json(imports.preview(job_id=job_id, user=current_user())))


@bp.put("/imports/<id:job_id>/mapping")
def set_import_mapping(job_id: int) -> Response:
    """Step 2: set the column mapping (header → field, "" to ignore) and the duplicate rule; returns the check."""
    user = current_user()
    payload = json_object()
    mapping, rule = payload.get("mapping"), payload.get("duplicate_rule")
    errors: dict[str, list[str]] = {}
    if not isinstance(mapping, dict) or not all(isinstance(v, str | None) for v in mapping.values()):
        errors["mapping"] = [str(_("应为对象：列标题 → 字段名（空字符串表示忽略）"))]
    if not isinstance(rule, str):
        errors["duplicate_rule"] = [str(_("必填"))]
    unknown = set(payload) - {"mapping", "duplicate_rule"}
    for name in unknown:
        errors[name] = [str(_("未知或只读字段"))]
    if errors:
        raise Invalid(str(_("请更正标出的字段")), errors)
    columns = {str(header): field or "" for header, field in (mapping or {}).items()}
    imports.set_mapping(job_id=job_id, user=user, mapping=columns, duplicate_rule=str(rule))
    return jsonify(preview_json(imports.preview(job_id=job_id, user=user)))


@bp.post("/imports/<id:job_id>/commit")
def commit_import(job_id: int) -> Response:
    """Step 4: write every row, skipping duplicates; 422 if any row has an error, 409 if already committed."""
    return jsonify(job_json(imports.commit(job_id=job_id, user=current_user())))


FIELD = obj({"name": STR, "label": STR, "required": {"type": "boolean"}})
openapi.SCHEMAS.update({
    "ImportUpload": obj({
        "file": {"type": "string", "contentMediaType": "application/octet-stream",
                 "description": f".xlsx or .csv (UTF-8/GBK), at most {excel.MAX_UPLOAD_BYTES // 1048576} MB and "
                                f"{excel.MAX_ROWS} rows; the first row holds the column titles"},
        "kind": {"enum": list(imports.KINDS)}}),
    "ImportJob": obj({
        "id": INT, "kind": {"enum": list(imports.KINDS)}, "filename": STR,
        "status": {"enum": [imports.UPLOADED, imports.COMMITTED]},
        "headers": {"type": "array", "items": STR},
        "mapping": {"type": "object", "additionalProperties": STR,
                    "description": "column title → field name; \"\" means the column is ignored"},
        "duplicate_rule": N_STR, "row_count": INT, "fields": {"type": "array", "items": FIELD},
        "duplicate_rules": {"type": "object", "additionalProperties": STR, "description": "rule → meaning"},
        "result": nullable(obj({"created": INT, "skipped_duplicates": INT, "total": INT, "first_id": INT,
                                "last_id": INT, "numbers": {"type": "array", "items": STR},
                                "committed_at": STR})),
        "created_at": TIME,
    }),
    "ImportJobList": obj({"items": {"type": "array", "items": ref("ImportJob")}}),
    "ImportMapping": obj({
        "mapping": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "column title → field name (see ImportJob.fields); \"\" ignores the column"},
        "duplicate_rule": {"enum": ["name", "phone", "tax_no"],
                           "description": "customers: name, phone or tax_no; contacts: name or phone"},
    }, additionalProperties=False),
    "ImportRow": obj({"line": {**INT, "description": "Row number in the sheet (the header is row 1)"},
                      "status": {"enum": ["ok", "duplicate", "error"]},
                      "values": {"type": "object", "additionalProperties": STR},
                      "errors": {"type": "array", "items": STR}, "duplicate": N_STR}),
    "ImportPreview": obj({
        "job": ref("ImportJob"),
        "counts": obj({"total": INT, "ready": INT, "duplicates": INT, "errors": INT}),
        "can_commit": {"type": "boolean"},
        "mapping_errors": {"type": "object", "additionalProperties": {"type": "array", "items": STR}},
        "rows": {"type": "array", "items": ref("ImportRow")},
    }),
})
JOB = [path_id("job_id")]
openapi.PATHS.update({
    "/imports": {
        "get": operation("listImports", "Your latest customer and contact imports", "imports",
                         openapi.responses("200", "ImportJobList", "401", "403")),
        "post": {**operation("uploadImport", "Upload a file; returns its headers and the guessed mapping",
                             "imports", openapi.responses("201", "ImportJob", "401", "403", "422", headers={
                                 "Location": {"schema": STR, "description": "URL of the import preview"}})),
                 "requestBody": {"required": True, "content": {"multipart/form-data": {
                     "schema": ref("ImportUpload")}}}},
    },
    "/imports/{job_id}": {"get": operation(
        "getImport", "Every row checked under the mapping and duplicate rule; nothing written", "imports",
        openapi.responses("200", "ImportPreview", "401", "403", "404"), params=JOB)},
    "/imports/{job_id}/mapping": {"put": operation(
        "setImportMapping", "Set the column mapping and duplicate rule; returns the new check", "imports",
        openapi.responses("200", "ImportPreview", "400", "401", "403", "404", "409", "422"), body="ImportMapping",
        params=JOB)},
    "/imports/{job_id}/commit": {"post": operation(
        "commitImport", "Write all rows (duplicates skipped) in one transaction, or none if a row is wrong",
        "imports", openapi.responses("200", "ImportJob", "401", "403", "404", "409", "422"), params=JOB)},
})
