"""Messages the services raise (in Chinese), marked for the catalog so pages show them translated."""
from __future__ import annotations

import re

from flask_babel import gettext

from bpm_crm.i18n import _

# Fixed messages: listed so extraction puts them in the catalog; gettext finds them by their text.
FIXED = (
    _("此任务已结束，无需再处理"),
    _("此任务没有可保存的草稿"),
    _("该流程刚被他人部署，请刷新后重试"),
    _("只有创建人可以修改或删除此销售机会"),
    _("只有创建人可以删除此销售机会"),
    _("只有认领人可以释放此任务"),
    _("您不能认领此任务"),
    _("您不能转派此任务"),
    _("您没有执行此操作的权限"),
    _("此任务不是您的任务"),
    _("计划项不属于此销售机会"),
    _("请选择一位在职的客户经理"),
    _("任务不存在或您无权查看"),
    _("客户不存在或您无权查看"),
    _("流程实例不存在或您无权查看"),
    _("目标用户不存在或已停用"),
    _("销售机会不存在或您无权查看"),
)

# Messages with a value in them: the pattern recovers the value, the template puts it back.
PATTERNS = (
    (re.compile(r"^此任务已由(?P<name>.+)完成$"), _("此任务已由%(name)s完成")),
    (re.compile(r"^此任务已被(?P<name>.+)认领$"), _("此任务已被%(name)s认领")),
    (re.compile(r"^销售机会已(?P<status>[^，]+)，不能再修改或删除$"), _("销售机会已%(status)s，不能再修改或删除")),
    (re.compile(r"^销售机会已是“(?P<status>.+)”状态$"), _("销售机会已是“%(status)s”状态")),
    (re.compile(r"^流程执行失败：(?P<detail>.*)$", re.S), _("流程执行失败：%(detail)s")),
    (re.compile(r"^流程启动失败：(?P<detail>.*)$", re.S), _("流程启动失败：%(detail)s")),
)


def translate(message: str | None) -> str:
    """The message in the reader's language when the catalog knows it, else as it was raised."""
    if not message:
        return ""
    for pattern, template in PATTERNS:
        match = pattern.match(message)
        if match:
            values = {name: gettext(value) for name, value in match.groupdict().items()}
            return str(template) % values
    return gettext(message)
