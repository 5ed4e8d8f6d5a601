"""Process instances: status, version, current steps, variables and history of one run."""
from __future__ import annotations

from flask import Response, jsonify

from bpm_crm.api import bp, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.models import ProcessInstance
from bpm_crm.services import instances


def shown(instance: ProcessInstance) -> Response:
    """An instance with its version, current steps, variables and readable history."""
    return jsonify(schemas.process_instance(
        instance,
        steps=instances.current_steps(instance),
        variables=instances.instance_variables(instance),
        events=instances.history(instance.id),
    ))


@bp.get("/process-instances/<id:instance_id>")
def get_process_instance(instance_id: int) -> Response:
    """One instance within the caller's process scope, with its readable history."""
    return shown(instances.get_instance(instance_id=instance_id, user=current_user()))
