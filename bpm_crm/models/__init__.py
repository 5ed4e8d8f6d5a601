"""Typed tables; importing this package registers them all with the metadata."""
from bpm_crm.models.crm import Customer, CustomerStatus, Opportunity, OpportunityStatus, PlanItem
from bpm_crm.models.people import ApiToken, Department, Role, RolePermission, User, user_roles
from bpm_crm.models.workflow import (
    HumanTask,
    InstanceStatus,
    ProcessDefinition,
    ProcessEvent,
    ProcessInstance,
    TaskStatus,
)

__all__ = [
    "ApiToken",
    "Customer",
    "CustomerStatus",
    "Department",
    "HumanTask",
    "InstanceStatus",
    "Opportunity",
    "OpportunityStatus",
    "PlanItem",
    "ProcessDefinition",
    "ProcessEvent",
    "ProcessInstance",
    "Role",
    "RolePermission",
    "TaskStatus",
    "User",
    "user_roles",
]
