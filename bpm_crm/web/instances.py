"""The process instance page: diagram coloured by progress, variables, tasks and history."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

from bpm_crm.models import TaskStatus
from bpm_crm.services import human_tasks, instances
from bpm_crm.web.pages import signed_in

bp = Blueprint("instances", __name__, url_prefix="/instances")


@bp.get("/<id:instance_id>")
@login_required
def show(instance_id: int):
    """One instance of a process, as far as the user may see it."""
    user = signed_in()
    instance = instances.get_instance(instance_id=instance_id, user=user)
    steps = instances.instance_tasks(instance.id)
    return render_template(
        "instances/show.html",
        instance=instance,
        tasks=steps,
        visible_task_ids={t.id for t in steps if human_tasks.may_see_task(user, t)},
        variables=instances.instance_variables(instance),
        history=instances.history(instance.id),
        diagram_data={
            "xml": instance.definition.bpmn_xml,
            "current": [t.bpmn_id for t in steps if t.status == TaskStatus.OPEN],
            "done": [t.bpmn_id for t in steps if t.status == TaskStatus.COMPLETED],
        },
    )
