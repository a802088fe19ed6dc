"""The story in Simplified Chinese (zh-CN), for borrowers, agents and regulators in China.
Pure: no I/O.

Same lines as the English story (same events, same kinds, same seq, id and hash): only
the sentence differs. An event type without a Chinese template here keeps its English
sentence, so a type added to the English story is never dropped from a Chinese one.
Amounts are written with the currency sign ("¥1,234.56"), as a printed page is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.audit.domain.story import (
    NARRATORS,
    Entry,
    Narrator,
    StoryLine,
    _Context,
    money,
    offered_disclosure,
    percent,
    tell,
)


def _m(fen: int, ctx: _Context, d: Mapping[str, Any]) -> str:
    return money(fen, ctx.cur(d), symbol=True)


def _parts(item: Mapping[str, Any], ctx: _Context, d: Mapping[str, Any]) -> str:
    names = {"late_fee": "滞纳金", "fees": "费用", "interest": "利息", "principal": "本金"}
    parts = [f"{zh} {_m(item[name], ctx, d)}" for name, zh in names.items() if item.get(name)]
    return f"（{'，'.join(parts)}）" if parts else ""


def _allocations(d: Mapping[str, Any], ctx: _Context, key: str = "allocations") -> str:
    items = d[key]
    if not items:
        return "无"
    return "；".join(
        f"账单 {a['bill_id']} {_m(a['amount'], ctx, d)}{_parts(a, ctx, d)}" for a in items
    )


_ROLE = {
    "borrower": "借款人",
    "agent": "催收员",
    "supervisor": "主管",
    "compliance": "合规人员",
    "ops": "运维人员",
    "integrator": "平台",
    "system": "系统",
}
_CHANNEL = {
    "call": "电话",
    "sms": "短信",
    "email": "电子邮件",
    "app_push": "应用推送",
    "letter": "信函",
}
_OUTCOME = {
    "reached": "已联系到借款人",
    "no_answer": "无人接听",
    "wrong_number": "号码错误",
    "refused": "借款人拒绝沟通",
    "promise_to_pay": "借款人承诺还款",
    "dispute": "借款人对债务提出异议",
    "callback_requested": "借款人要求回电",
    "sent": "自动消息已发送",
}
_PARTY = {"debtor": "债务人", "third_party": "登记的第三方"}
_PLAN = {
    "deferral": "延期",
    "reinstallment": "重新分期",
    "waiver": "减免",
    "personalised": "个性化",
}
_PRODUCT = {"consumer_credit": "消费信贷", "cash_loan": "现金贷"}


def _role(d: Mapping[str, Any]) -> str:
    return _ROLE.get(str(d["role"]), str(d["role"]))


def _plan(d: Mapping[str, Any], key: str = "plan_type") -> str:
    return _PLAN.get(str(d[key]), str(d[key]))


# -- inbound and accounts -------------------------------------------------------------


def _account_opened(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    ctx.currency = d.get("currency") or ctx.currency
    zone = f"，时区 {d['time_zone']}" if d.get("time_zone") else ""
    product = _PRODUCT.get(str(d["product"]), str(d["product"]))
    return "account", f"为客户 {d['customer_id']} 开立账户（{product}，{d['currency']}{zone}）。"


def _bill_issued(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    ctx.currency = ctx.currency or d.get("currency")
    principal, interest, fees = d["principal"], d.get("interest", 0), d.get("fees", 0)
    return "bill", (
        f"账单 {d['bill_id']} 于 {d['issued_on']} 出具，金额 "
        f"{_m(principal + interest + fees, ctx, d)}（本金 {_m(principal, ctx, d)}，"
        f"利息 {_m(interest, ctx, d)}，费用 {_m(fees, ctx, d)}），到期日 {d['due_date']}。"
    )


def _payment_received(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    bill = f"，用于账单 {d['bill_id']}" if d.get("bill_id") else ""
    return "payment", (
        f"收到还款 {d['payment_id']}，金额 {_m(d['amount'], ctx, d)}{bill}，"
        f"付款时间 {d['paid_at']}。"
    )


def _payment_allocated(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    credit = f"；{_m(d['unallocated'], ctx, d)} 留作贷记余额" if d.get("unallocated") else ""
    backdated = f"；回溯至 {d['business_date']}，随后将有更正" if d.get("backdated") else ""
    return "allocation", (
        f"还款 {d['payment_id']}（{_m(d['amount'], ctx, d)}）已分配：{_allocations(d, ctx)}"
        f"{credit}{backdated}。"
    )


def _payment_reallocated(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "allocation", (
        f"{d['source_id']} 的分配自 {d['as_of']} 起更正（{d['reason']}）：{_allocations(d, ctx)}。"
    )


def _credit_applied(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "allocation", (
        f"贷记余额 {_m(d['amount'], ctx, d)} 已用于账单 {d['bill_id']}；"
        f"剩余贷记余额 {_m(d['remaining_credit'], ctx, d)}。"
    )


def _bill_overdue(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "overdue", (
        f"账单 {d['bill_id']}（到期日 {d['due_date']}）于 {d['business_date']} 日终逾期，"
        f"未还 {_m(d['overdue_amount'], ctx, d)}，逾期 {d['days_past_due']} 天。"
    )


def _late_fee(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    if d.get("correction"):
        return "fee", (
            f"{d['business_date']} 日终对账单 {d['bill_id']} 补记滞纳金 "
            f"{_m(d['amount'], ctx, d)}，追溯至 {d['as_of']}（回溯的还款表明应计）。"
        )
    return "fee", (
        f"账单 {d['bill_id']} 于 {d['business_date']} 计提滞纳金 {_m(d['amount'], ctx, d)}"
        f"（未还 {_m(d['base'], ctx, d)}，日费率 {percent(d['daily_rate'])}）。"
    )


def _late_fee_reversed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "fee", (
        f"账单 {d['bill_id']} 的滞纳金 {_m(d['amount'], ctx, d)} 于 {d['business_date']} "
        f"日终冲回，追溯至 {d['as_of']}：{d['reason']}。"
    )


def _bucket_changed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    correction = f"，为自 {d['as_of']} 起的更正" if d.get("correction") else ""
    return "bucket", (
        f"{d['business_date']} 逾期档位由 {d['from_bucket']} 变为 {d['to_bucket']}，"
        f"逾期 {d['days_past_due']} 天{correction}。"
    )


def _charged_off(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "overdue", (
        f"账户于 {d['business_date']} 核销，逾期 {d['days_past_due']} 天，"
        f"未偿余额 {_m(d['outstanding'], ctx, d)}。"
    )


def _cured(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    by = f"（还款 {d['payment_id']}）" if d.get("payment_id") else ""
    return "bucket", f"账户于 {d['business_date']} 恢复正常{by}，此前处于档位 {d['from_bucket']}。"


def _due_soon(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "warning", (
        f"还款提醒：账单 {d['bill_id']} 应于 {d['due_date']} 还款 "
        f"{_m(d['amount_due'], ctx, d)}，距 {d['business_date']} 日终还有 "
        f"{d['days_until_due']} 天。"
    )


def _first_payment_default(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "warning", (
        f"预警：首期账单 {d['bill_id']}（到期日 {d['due_date']}）于 {d['business_date']} "
        f"逾期且分文未还（应还 {_m(d['amount_due'], ctx, d)}）。"
    )


def _waived(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "waiver", (
        f"依计划 {d['plan_id']} 减免费用 {_m(d['amount'], ctx, d)}："
        f"{_allocations(d, ctx, 'waived')}。"
    )


def _paused(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    start = f"自 {d['business_date']} 起" if d.get("business_date") else ""
    return "relief", f"计划 {d['plan_id']} 生效期间，逾期计算{start}暂停。"


def _resumed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    start = f"自 {d['business_date']} 起" if d.get("business_date") else ""
    return "relief", f"逾期计算{start}恢复：计划 {d['plan_id']} {d['reason']}。"


# -- plans ----------------------------------------------------------------------------


def _plan_requested(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "plan", (
        f"{_role(d)} {d['requested_by']} 于 {d['requested_on']} 通过 {d['channel']} "
        f"申请{_plan(d)}计划（{d['plan_id']}）。"
    )


def _plan_offered(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    ctx.offers[str(d["plan_id"])] = dict(d)
    terms = d["terms"]
    return "offer", (
        f"{_role(d)} {d['proposed_by']} 于 {d['offered_on']} 提供{_plan(terms)}计划"
        f"（{d['plan_id']}），有效期至 {d['expires_on']}：涉及金额 "
        f"{money(terms['amount'], terms.get('currency'), symbol=True)}；宽限期 "
        f"{d['grace_days']} 天，冷静期 {d['cooling_off_days']} 天；"
        f"披露文本 sha256 {d['disclosure_sha256']}。"
    )


def _approval_requested(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "approval", (
        f"{d['proposed_by']} 提出的计划 {d['plan_id']} 待主管审批：{'；'.join(d['reasons'])}。"
    )


def _approved(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "approval", f"计划 {d['plan_id']} 已由 {d['approved_by']} 于 {d['approved_on']} 批准。"


def _rejected(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "approval", (
        f"计划 {d['plan_id']} 被 {d['rejected_by']} 于 {d['rejected_on']} 驳回：{d['reason']}。"
    )


def _accepted(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    shown = d["disclosure_sha256"]
    offered = offered_disclosure(d, ctx)
    if offered is None:
        check = "记录中没有可比对的该计划要约"
    elif offered == shown:
        check = "与要约的披露文本一致"
    else:
        check = f"与要约的披露文本不一致，要约的 sha256 为 {offered}"
    return "acceptance", (
        f"{_role(d)} {d['accepted_by']} 于 {d['accepted_on']} 通过 {d['channel']} 接受计划 "
        f"{d['plan_id']}，接受前已阅读 sha256 为 {shown} 的披露文本（{check}）。"
    )


def _declined(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    reason = f"：{d['reason']}" if d.get("reason") else ""
    return "acceptance", (
        f"计划 {d['plan_id']} 被 {d['declined_by']} 于 {d['declined_on']} 通过 "
        f"{d['channel']} 拒绝{reason}。"
    )


def _expired(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    if str(d["plan_id"]) not in ctx.offers:
        return "offer", f"计划 {d['plan_id']} 的申请于 {d['expired_on']} 无人答复而失效。"
    return "offer", f"计划 {d['plan_id']} 的要约于 {d['expired_on']} 过期未被接受。"


def _activated(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    first = f"，首期到期日 {d['first_due_date']}" if d.get("first_due_date") else ""
    return "plan", (
        f"{_plan(d)}计划 {d['plan_id']} 于 {d['activated_on']} 生效：涉及金额 "
        f"{money(d['amount'], d.get('currency'), symbol=True)}{first}。"
    )


def _installment_met(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    late = "（逾期）" if d.get("late") else ""
    return "plan", (
        f"计划 {d['plan_id']} 第 {d['number']} 期（{_m(d['amount'], ctx, d)}，到期日 "
        f"{d['due_date']}）于 {d['met_on']} 还清{late}。"
    )


def _installment_missed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "plan", (
        f"计划 {d['plan_id']} 第 {d['number']} 期（到期日 {d['due_date']}）未按时还款，"
        f"未还 {_m(d['unpaid'], ctx, d)}；宽限期至 {d['grace_until']}。"
    )


def _completed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "plan", f"计划 {d['plan_id']} 已完成：每一期均已还清。"


def _broken(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "plan", f"计划 {d['plan_id']} 已违约：{d['reason']}。"


def _cancelled(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "plan", (
        f"计划 {d['plan_id']} 由 {d['cancelled_by']} 于 {d['cancelled_on']} 取消：{d['reason']}。"
    )


# -- contact --------------------------------------------------------------------------


def _case_opened(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "case", (
        f"于 {d['opened_on']} 为账单 {d['bill_id']} 立催收案件 {d['case_id']}：{d['reason']}。"
    )


def _case_closed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    why = {"cured": "账户已恢复正常", "charged_off": "账户已核销", "plan": "已通过还款计划解决"}
    on = f"于 {d['closed_on']} " if d.get("closed_on") else ""
    reason = why.get(str(d["reason"]), str(d["reason"]))
    return "case", f"催收案件 {d['case_id']} {on}结案：{reason}。"


def _attempt_checked(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    what = (
        f"计划于 {d['planned_at']} 对{_PARTY[d['party']]}进行的{_CHANNEL[d['channel']]}联系"
        f"（债务 {d['debt_id']}）"
    )
    if d["decision"] == "blocked":
        return "contact-blocked", (
            f"{what}依 {d['jurisdiction']} 规则 {'、'.join(d['rule_ids'])} 被禁止："
            f"{str(d['explanation']).rstrip('.')}。"
        )
    return "contact-check", f"{what}经 {d['jurisdiction']} 规则检查后允许。"


def _attempt_recorded(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    agent = f"（催收员 {d['agent']}）" if d.get("agent") else ""
    outcome = _OUTCOME.get(str(d["outcome"]), str(d["outcome"]).replace("_", " "))
    return "contact", (
        f"{d['agency']}{agent} 于 {d['at']} 就债务 {d['debt_id']} 对"
        f"{_PARTY[d.get('party', 'debtor')]}进行{_CHANNEL[d['channel']]}联系：{outcome}。"
    )


def _opted_out(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "contact-preference", f"借款人退订了{_CHANNEL[d['channel']]}联系。"


def _cease(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    reason = f"（{d['reason']}）" if d.get("reason") else ""
    return "contact-preference", f"借款人书面要求停止催收联系{reason}。"


def _disputed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    reason = f"（{d['reason']}）" if d.get("reason") else ""
    return "dispute", f"借款人对债务 {d['debt_id']} 提出异议{reason}；在工作人员答复前暂停催收。"


def _dispute_resolved(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    finding = "核实无误" if d["finding"] == "verified" else "已更正"
    return "dispute", f"工作人员已答复债务 {d['debt_id']} 的异议：{finding}；可恢复催收。"


def _erased(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "access", (
        f"{_role(d)} {d['erased_by']} 删除了该账户的个人信息（{d['values_erased']} 项，"
        f"截至 seq {d['through_seq']}），距最后一次事件 {d['last_activity_at']} 已保留 "
        f"{d['retention_days']} 天：{d['reason']}。"
    )


NARRATORS_ZH: dict[str, Narrator] = {
    **NARRATORS,
    "AccountOpened": _account_opened,
    "BillIssued": _bill_issued,
    "PaymentReceived": _payment_received,
    "PaymentAllocated": _payment_allocated,
    "PaymentReallocated": _payment_reallocated,
    "CreditApplied": _credit_applied,
    "BillBecameOverdue": _bill_overdue,
    "LateFeeAccrued": _late_fee,
    "LateFeeReversed": _late_fee_reversed,
    "DelinquencyBucketChanged": _bucket_changed,
    "AccountChargedOff": _charged_off,
    "AccountCured": _cured,
    "PaymentDueSoon": _due_soon,
    "FirstPaymentDefaulted": _first_payment_default,
    "FeesWaived": _waived,
    "DelinquencyPaused": _paused,
    "DelinquencyResumed": _resumed,
    "PlanRequested": _plan_requested,
    "PlanOffered": _plan_offered,
    "PlanApprovalRequested": _approval_requested,
    "PlanApproved": _approved,
    "PlanRejected": _rejected,
    "PlanAccepted": _accepted,
    "PlanDeclined": _declined,
    "PlanExpired": _expired,
    "PlanActivated": _activated,
    "InstallmentMet": _installment_met,
    "InstallmentMissed": _installment_missed,
    "PlanCompleted": _completed,
    "PlanBroken": _broken,
    "PlanCancelled": _cancelled,
    "CollectionCaseOpened": _case_opened,
    "CollectionCaseClosed": _case_closed,
    "ContactAttemptChecked": _attempt_checked,
    "ContactAttemptRecorded": _attempt_recorded,
    "ContactChannelOptedOut": _opted_out,
    "ContactCeaseRequested": _cease,
    "DebtDisputed": _disputed,
    "DisputeResolved": _dispute_resolved,
    "PersonalDataErased": _erased,
}
"""Event type name → the Chinese sentence writer; the English one where none is written."""


def tell_zh(entries: Iterable[Entry]) -> list[StoryLine]:
    """The story of `entries` in Simplified Chinese."""
    return tell(entries, NARRATORS_ZH)
