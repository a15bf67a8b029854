"""Demo organizations and people for trying Lianxin out; deterministic, never duplicated."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from argon2 import PasswordHasher
from sqlalchemy import select

from accounts.models import Organization, OrgLevel, RegisterEntry, Role, User
from accounts.organizations import create_organization
from accounts.terms import appoint_secretary
from accounts.users import GrantSpec, create_user
from extensions import db

DEMO_PASSWORD = "lianxin-demo-2026"
DISTRICT = "临江区委"
TOWNSHIPS = {
    "东湖街道党工委": ["春晖社区", "桂花社区", "滨江社区"],
    "西山镇党委": ["西山村", "石桥村", "柳营社区"],
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀兰", "霞"]
RESIDENTS_PER_COMMUNITY = 10
#: The community whose first secretary was replaced, so terms can be told apart.
REPLACED_COMMUNITY = "桂花社区"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    name: str
    what: str


def demo_accounts() -> list[DemoAccount]:
    """Return the demo accounts worth trying, as stored."""
    wanted = ["admin", "eval.district", "eval.donghu", "sec.chunhui", "member.chunhui", "sec.guihua"]
    users = {u.username: u for u in db.session.scalars(select(User).where(User.username.in_(wanted)))}
    labels = {
        "admin": "administrator",
        "eval.district": "evaluator, whole district",
        "eval.donghu": "evaluator, 东湖街道 only",
        "sec.chunhui": "secretary and member, 春晖社区",
        "member.chunhui": "member, 春晖社区",
        "sec.guihua": "secretary, 桂花社区 (replaced 孙明 in 2026)",
    }
    accounts = [DemoAccount(u, users[u].name, labels[u]) for u in wanted if u in users]
    first_resident = db.session.scalar(
        select(User).where(User.grants.any(role=Role.resident), User.register_entry_id.is_not(None)).order_by(User.id)
    )
    if first_resident is not None:
        accounts.append(DemoAccount(first_resident.username, first_resident.name, "verified resident, 春晖社区"))
    return accounts


def is_seeded() -> bool:
    return db.session.scalar(select(Organization.id).where(Organization.name == DISTRICT, Organization.parent_id.is_(None))) is not None


def seed(ph: PasswordHasher) -> None:
    """Create the demo district with its townships, communities and people."""
    rng = random.Random(2026)
    district = create_organization(None, name=DISTRICT, level=OrgLevel.district, parent_id=None)
    _user(ph, "admin", "系统管理员", [(Role.admin, None)])
    _user(ph, "eval.district", "区委组织部 评议员", [(Role.evaluator, district)])
    phone_counter = 0
    for township_index, (township_name, community_names) in enumerate(TOWNSHIPS.items()):
        township = create_organization(None, name=township_name, level=OrgLevel.township, parent_id=district.id)
        short = ["donghu", "xishanzhen"][township_index]
        if township_index == 0:
            _user(ph, "eval.donghu", "街道组织委员 评议员", [(Role.evaluator, township)])
        township_secretary = _user(ph, f"sec.{short}", _name(rng), [(Role.member, township)])
        appoint_secretary(None, township, township_secretary, date(2024, 1, 1))
        for community_index, community_name in enumerate(community_names):
            community = create_organization(
                None, name=community_name, level=OrgLevel.community, parent_id=township.id
            )
            slug = ["chunhui", "guihua", "binjiang", "xishan", "shiqiao", "liuying"][township_index * 3 + community_index]
            secretary = _user(ph, f"sec.{slug}", _name(rng), [(Role.member, community)])
            _user(ph, f"member.{slug}", _name(rng), [(Role.member, community)])
            if community_name == REPLACED_COMMUNITY:
                predecessor = _user(ph, f"former.{slug}", "孙明", [(Role.member, community)])
                appoint_secretary(None, community, predecessor, date(2023, 3, 1))
                appoint_secretary(None, community, secretary, date(2026, 1, 1))
            else:
                appoint_secretary(None, community, secretary, date(2024, 1, 1))
            for n in range(RESIDENTS_PER_COMMUNITY):
                phone_counter += 1
                phone = f"1380000{phone_counter:04d}"
                name = _name(rng)
                db.session.add(RegisterEntry(
                    community=community, name=name, phone=phone, household=f"{n // 4 + 1}号楼 {n % 4 + 1}01"
                ))
                db.session.flush()
                _user(ph, phone, name, [(Role.resident, community)], phone=phone)
    db.session.flush()


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


@lru_cache
def _password_hash(ph: PasswordHasher) -> str:
    return ph.hash(DEMO_PASSWORD)


def _user(ph: PasswordHasher, username: str, name: str, roles, phone: str | None = None) -> User:
    # Given as a hash: the policy refuses the published password for accounts made any other way.
    return create_user(
        None,
        username=username,
        name=name,
        phone=phone,
        grants=[GrantSpec(role, org.id if org else None) for role, org in roles],
        ph=ph,
        password_hash=_password_hash(ph),
    )
