"""Process instances: status, version, current steps, variables and history of one run."""
from __future__ import annotations

from flask import Response, jsonify

from bpm_crm.api import bp, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.services import workflow


@bp.get("/process-instances/<id:instance_id>")
def get_process_instance(instance_id: int) -> Response:
    """One instance within the caller's process scope, with its readable history."""
    instance = workflow.get_instance(instance_id=instance_id, user=current_user())
    return jsonify(schemas.process_instance(
        instance,
        steps=workflow.current_steps(instance),
        variables=workflow.instance_variables(instance),
        events=workflow.history(instance.id),
    ))
