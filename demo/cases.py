"""Demo categories and about 200 cases with realistic histories, filed through the real services."""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from accounts.models import Organization, OrgLevel, Role, User
from accounts.terms import open_term
from extensions import db
from evaluation import case_figures
from workflow import actions, filing
from workflow.machine import OPEN_STATES, Party
from workflow.sweep import TimeLimits, sweep
from workflow.models import Case, Category, Priority, Satisfaction

CATEGORIES = [
    # name, English name, (urgent respond h, urgent resolve h, normal respond h, normal resolve h)
    ("路灯照明", "Street lights", (1, 24, 24, 7 * 24)),
    ("环境卫生", "Sanitation and rubbish", (1, 24, 24, 3 * 24)),
    ("道路设施", "Roads and paths", (1, 24, 24, 10 * 24)),
    ("为老服务", "Help for the elderly", (1, 12, 12, 3 * 24)),
    ("邻里纠纷", "Neighbour disputes", (2, 48, 24, 7 * 24)),
    ("物业管理", "Property management", (1, 24, 24, 7 * 24)),
    ("安全隐患", "Safety hazards", (1, 12, 8, 2 * 24)),
]
REQUESTS = {
    "路灯照明": [("小区北门路灯不亮", "北门口的路灯连续三个晚上不亮，老人晚上出门不方便。", "北门"),
                ("3号楼楼道灯坏了", "3号楼二单元楼道声控灯不亮一个多星期了。", "3号楼二单元")],
    "环境卫生": [("垃圾站清运不及时", "垃圾站已经满了两天没有清运，气味很大。", "西侧垃圾站"),
                ("绿化带有建筑垃圾", "有人在绿化带倾倒装修垃圾。", "5号楼南侧绿化带")],
    "道路设施": [("人行道地砖松动", "人行道有几块地砖松动，下雨天容易溅水绊倒。", "幸福路人行道"),
                ("井盖破损", "路口井盖有裂缝，存在安全隐患。", "东门路口")],
    "为老服务": [("独居老人需要助餐", "楼上独居的王奶奶腿脚不便，希望能安排助餐服务。", "7号楼301"),
                ("老人需要陪同就医", "我父亲下周要去医院复查，家里没人陪同，希望社区帮忙。", "2号楼502")],
    "邻里纠纷": [("楼上噪音扰民", "楼上邻居每天深夜搬动家具，多次沟通无果。", "6号楼四单元"),
                ("占用公共楼道堆放杂物", "邻居在楼道里堆放杂物，影响通行和消防安全。", "1号楼三单元")],
    "物业管理": [("电梯经常故障", "8号楼电梯这个月已经停了三次。", "8号楼"),
                ("小区大门门禁失灵", "大门门禁刷卡没反应，外来人员随意进出。", "南大门")],
    "安全隐患": [("电动车楼道充电", "有人把电动车推进楼道充电，担心起火。", "4号楼一单元"),
                ("消防通道被占用", "消防通道长期停满私家车。", "9号楼北侧")],
}
#: How the demo cases end up: (final state or path, how many).
SCENARIOS = [
    ("submitted", 18), ("submitted_late", 8), ("rejected", 8), ("merged", 6), ("accepted", 14),
    ("assigned", 14), ("in_progress", 18), ("in_progress_late", 8), ("on_hold", 10), ("resolved", 14),
    ("closed_satisfied", 40), ("closed_basic", 16), ("closed_after_reopen", 10), ("reopened", 6),
    ("closed_no_feedback", 6), ("withdrawn", 6), ("escalated", 4),
]


def seed(now: datetime, upload_dir: Path, rng: random.Random | None = None) -> int:
    """Create the demo categories and cases; return how many cases were filed."""
    rng = rng or random.Random(2027)
    categories = {}
    for name, name_en, (ur, us, nr, ns) in CATEGORIES:
        category = Category(name=name, name_en=name_en, urgent_respond_hours=ur, urgent_resolve_hours=us,
                            normal_respond_hours=nr, normal_resolve_hours=ns)
        db.session.add(category)
        categories[name] = category
    db.session.flush()
    communities = list(db.session.scalars(
        select(Organization).where(Organization.level == OrgLevel.community).order_by(Organization.id)
    ))
    filed = 0
    for scenario, count in SCENARIOS:
        for _ in range(count):
            community = rng.choice(communities)
            _play(scenario, community, categories, now, upload_dir, rng)
            filed += 1
    # Let the time limits catch up with the backdated cases, as the scheduled sweep would,
    # and compute the case figures the evaluation reads.
    sweep(now, TimeLimits())
    case_figures.refresh_case_figures(now)
    return filed


def _people(community: Organization):
    members = list(db.session.scalars(
        select(User).where(User.grants.any(role=Role.member, organization_id=community.id), User.active)
        .order_by(User.id)
    ))
    residents = list(db.session.scalars(
        select(User).where(User.grants.any(role=Role.resident, organization_id=community.id)).order_by(User.id)
    ))
    term = open_term(community.id)
    secretary = term.user if term else members[0]
    return secretary, members, residents


def _play(scenario: str, community: Organization, categories, now: datetime, upload_dir: Path, rng) -> Case:
    secretary, members, residents = _people(community)
    category_name = rng.choice(list(REQUESTS))
    title, description, address = rng.choice(REQUESTS[category_name])
    resident = rng.choice(residents) if rng.random() < 0.85 else None
    priority = Priority.urgent if rng.random() < 0.15 else Priority.normal
    late = scenario.endswith("_late")
    if scenario.startswith("closed") or scenario in ("rejected", "merged"):
        age_days = rng.uniform(12, 110)
    elif scenario == "submitted_late":
        age_days = rng.uniform(2, 4)  # past the 24-hour response limit
    elif late:
        age_days = rng.uniform(14, 25)  # past the resolution limit
    else:
        age_days = rng.uniform(0.05, 0.9) if scenario == "submitted" else rng.uniform(1, 6)
    clock = [now - timedelta(days=age_days)]

    def later(hours_low: float, hours_high: float) -> datetime:
        clock[0] = min(clock[0] + timedelta(hours=rng.uniform(hours_low, hours_high)), now - timedelta(minutes=5))
        return clock[0]

    case = filing.file_case(
        resident, category_id=categories[category_name].id, priority=priority, title=title,
        description=description, address=f"{community.name}{address}",
        contact_name=resident.name if resident else "匿名居民", contact_phone=resident.phone if resident else "13900000000",
        organization_id=community.id, photos=[], upload_dir=upload_dir, now=clock[0],
    )
    if scenario.startswith("submitted"):
        return case
    member = rng.choice(members)
    owner = frozenset({Party.owner})

    def act(name: str, who: User | None, parties, **data):
        actions.take_action(case, name, actor=who, parties=parties, seen_version=None,
                            data=actions.ActionInput(**data), now=later(0.5, 20))

    staff = frozenset({Party.member})
    if scenario == "rejected":
        act("reject", member, staff, reason="不属于社区职责范围，已告知向城管部门反映。")
        return case
    if scenario == "merged":
        original = db.session.scalar(select(Case).where(
            Case.organization_id == community.id, Case.state.in_(OPEN_STATES),
            Case.id != case.id).order_by(Case.id))
        if original is not None:
            act("merge", member, staff, duplicate_of_id=original.id, reason="与已受理的诉求重复。")
            return case
    act("accept", member, staff)
    if scenario == "accepted":
        return case
    if scenario == "escalated":
        act("escalate", secretary, frozenset({Party.secretary, Party.member}), reason="涉及多个社区，需要街道协调。")
        return case
    assignee = rng.choice(members)
    act("assign", secretary, frozenset({Party.secretary, Party.member}), assignee_id=assignee.id)
    if scenario == "assigned":
        return case
    as_assignee = frozenset({Party.member, Party.assignee})
    act("start", assignee, as_assignee)
    if scenario == "on_hold":
        act("request_info", assignee, as_assignee, question="请问具体是哪一栋楼？方便的话请补充照片。")
        return case
    if scenario.startswith("in_progress"):
        return case
    if scenario == "withdrawn":
        act("withdraw", resident, owner)
        return case
    act("resolve", assignee, as_assignee, resolution="已联系维修人员现场处理完毕。")
    if scenario == "resolved":
        return case
    if scenario in ("closed_after_reopen", "reopened"):
        _feedback(case, resident, False, Satisfaction.dissatisfied, "问题没有彻底解决，第二天又出现了。", later(2, 48))
        if scenario == "reopened":
            return case
        act("resolve", assignee, as_assignee, resolution="更换了损坏的部件，并回访确认。")
    if scenario == "closed_no_feedback":
        later(24 * 8, 24 * 9)
        actions.take_action(case, "auto_close", actor=None, parties=frozenset({Party.system}), seen_version=None,
                            data=actions.ActionInput(), now=min(clock[0], now))
        return case
    satisfaction = Satisfaction.basically_satisfied if scenario == "closed_basic" else Satisfaction.satisfied
    _feedback(case, resident, True, satisfaction, "处理及时，谢谢！", later(2, 48))
    return case


def _feedback(case: Case, resident: User | None, solved: bool, satisfaction: Satisfaction, comment: str,
              at: datetime) -> None:
    actions.give_feedback(case, actor=resident, parties=frozenset({Party.owner}), seen_version=None,
                          solved=solved, satisfaction=satisfaction, comment=comment, now=at)
