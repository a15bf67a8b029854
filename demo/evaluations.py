"""Demo surveys: two published evaluations of the secretaries and one open survey, through the real services."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select

from demo.people import TOWNSHIPS
from accounts.models import Organization, OrgLevel, Role, User
from extensions import db
from surveys.ballots import Voter, submit_ballot
from surveys.builder import add_question, create_survey, set_targets
from surveys.codes import find_invitation, format_code, generate_codes
from surveys.models import DONT_KNOW, OPTIONS, Anonymity, Question, QuestionType, Survey, SurveyKind
from surveys.tally import count_survey
from surveys.transitions import close_survey, open_survey, publish_survey

QUARTERS = "一二三四"
EVALUATION_DAYS = 14
OPEN_SURVEY_CODES = 5
SATISFIED, BASIC, DISSATISFIED = OPTIONS[QuestionType.rating3]


class Plan(NamedTuple):
    """How one community answers one evaluation."""

    accounts: int  # verified residents who vote with their account (of 10)
    codes_issued: int
    codes_used: int
    satisfied: int  # overall question (q1); the three add up to accounts + codes_used
    basic: int
    dissatisfied: int
    comments: int


#: The evaluation two quarters back. 春晖社区 starts low (40% satisfied or basically);
#: 石桥村 sits at exactly one third dissatisfied, which is not flagged.
EARLIER = {
    "春晖社区": Plan(10, 12, 10, 3, 5, 12, 10),
    "桂花社区": Plan(8, 10, 6, 7, 5, 2, 3),
    "滨江社区": Plan(9, 10, 6, 7, 6, 2, 4),
    "西山村": Plan(9, 10, 7, 7, 6, 3, 3),
    "石桥村": Plan(9, 10, 6, 4, 6, 5, 5),
    "柳营社区": Plan(6, 10, 2, 4, 3, 1, 2),
}
#: Last quarter's evaluation: 春晖社区 up to 90% (a real change), 石桥村 10 of 16 dissatisfied
#: (flagged, Wilson lower bound 0.386 > 1/3: confirmed), 柳营社区 under k = 5 answers. 西山镇's total
#: is shown, so its smallest other community is hidden too (the remainder rule): 西山村 with 15 answers,
#: fewer than 石桥村's, so that the flagged secretary stays in the table.
LATER = {
    "春晖社区": Plan(10, 12, 10, 12, 6, 2, 12),
    "桂花社区": Plan(9, 10, 6, 8, 5, 2, 4),
    "滨江社区": Plan(8, 10, 6, 6, 6, 2, 3),
    "西山村": Plan(10, 10, 5, 7, 6, 2, 4),
    "石桥村": Plan(10, 10, 6, 2, 4, 10, 6),
    "柳营社区": Plan(3, 10, 1, 2, 1, 1, 1),
}
#: The grade4 answer's weights given the overall answer, so the two agree.
GRADE_WEIGHTS = {
    SATISFIED: {"excellent": 6, "competent": 4},
    BASIC: {"excellent": 1, "competent": 5, "basically_competent": 4},
    DISSATISFIED: {"competent": 1, "basically_competent": 5, "incompetent": 4},
}
#: The three pillars' weights (satisfied, basically, dissatisfied) given the overall answer.
PILLAR_WEIGHTS = {SATISFIED: (7, 3, 0), BASIC: (2, 6, 2), DISSATISFIED: (0, 3, 7)}
DONT_KNOW_SHARE = 0.08
COMMENTS = {
    SATISFIED: [
        "书记经常来小区走访，有事找得到人。",
        "社区活动办得很好，老人们都很喜欢。",
        "反映的路灯问题第二天就修好了，点赞！",
        "书记工作认真负责，对居民很热情。",
        "党群服务中心的服务比以前好多了。",
        "汛期社区干部都冲在前面，值得信赖。",
        "为老助餐点办得好，希望继续坚持。",
        "楼道堆物清理干净了，环境明显变好。",
        "办事不用来回跑了，一次就办好。",
        "书记带头参加志愿服务，大家都看在眼里。",
        "居民议事会开得很实在，大家的意见都被采纳了。",
        "新装的电动车充电桩解决了大问题。",
    ],
    BASIC: [
        "总体还可以，但停车问题一直没有解决。",
        "希望多听听上班族的意见，活动都安排在工作日。",
        "服务态度不错，就是办事效率还可以再提高。",
        "垃圾分类宣传很多，但清运还是不够及时。",
        "希望公开一下社区经费的使用情况。",
        "有进步，希望继续保持。",
        "书记人不错，就是平时很少见到。",
        "老旧小区改造进度有点慢。",
    ],
    DISSATISFIED: [
        "反映了好几次楼上噪音的问题，一直没人管。",
        "很少看到书记到小区里来，有事找不到人。",
        "道路坑洼不平，说了很多次都没有修。",
        "办事要跑好几趟，材料要求也不一次说清楚。",
        "公开栏的信息好几个月没更新了。",
        "电话打过去经常没人接。",
        "答应的事情没有下文，希望说到做到。",
        "垃圾堆了好几天没人清运。",
    ],
}
#: 春晖社区's comments after its turnaround, beside the usual satisfied ones.
IMPROVED = [
    "这几个月变化很大，书记经常上门听意见。",
    "上次评议提的问题基本都解决了，进步明显。",
    "诉求处理比以前快多了，还有专人回访。",
    "楼下的健身器材修好了，还增加了休息座椅。",
    "社区开始每月公开议事结果，大家心里有数。",
]
TRENDING_COMMUNITY = "春晖社区"
OPEN_SURVEY_QUESTIONS = (
    # type, text, required, don't know offered, choices
    (QuestionType.rating3, "您对本社区党群服务中心的服务总体是否满意？", True, True, []),
    (QuestionType.rating3, "您对社区办事的效率是否满意？", True, False, []),
    (QuestionType.likert5, "社区工作人员的服务态度如何？（1 很差，5 很好）", True, False, []),
    (QuestionType.single_choice, "您最希望社区加强哪方面的服务？", False, False,
     ["为老服务", "环境卫生", "停车管理", "文体活动", "邻里调解"]),
    (QuestionType.free_text, "您对社区服务还有什么意见和建议？", False, False, []),
)


@dataclass(frozen=True)
class SeededSurveys:
    ballots: int
    open_title: str
    #: The open survey's unused codes as (community name, XXXX-XXXX); they exist nowhere else in plain text.
    codes: list[tuple[str, str]]


def seed(now: datetime, key: bytes, box_key: bytes, rng: random.Random | None = None) -> SeededSurveys:
    """Run last two quarters' evaluations to publication and open a survey in 东湖街道 now."""
    rng = rng or random.Random(2028)
    district_evaluator = _user("eval.district")
    communities = {c.name: c for c in db.session.scalars(
        select(Organization).where(Organization.level == OrgLevel.community).order_by(Organization.id)
    )}
    ballots = _evaluation(district_evaluator, _quarter_start(now, 2), communities, EARLIER, key, box_key, rng)
    ballots += _evaluation(district_evaluator, _quarter_start(now, 1), communities, LATER, key, box_key, rng,
                           improved=TRENDING_COMMUNITY)
    donghu = [communities[name] for name in next(iter(TOWNSHIPS.values()))]
    survey, codes, cast = _open_survey(_user("eval.donghu"), now, donghu, key, box_key, rng)
    return SeededSurveys(ballots + cast, survey.title, codes)


def _user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def _quarter_start(moment: datetime, back: int) -> datetime:
    index = moment.year * 4 + (moment.month - 1) // 3 - back
    return datetime(index // 4, index % 4 * 3 + 1, 1)


def _quarter_name(start: datetime) -> str:
    return f"{start.year}年第{QUARTERS[(start.month - 1) // 3]}季度"


def _residents(community: Organization) -> list[User]:
    return list(db.session.scalars(select(User).where(
        User.grants.any(role=Role.resident, organization_id=community.id), User.register_entry_id.is_not(None)
    ).order_by(User.id)))


def _evaluation(actor: User, quarter: datetime, communities: dict[str, Organization], plans: dict[str, Plan],
                key: bytes, box_key: bytes, rng: random.Random, improved: str | None = None) -> int:
    """Create, open, answer, close and publish one quarter's evaluation; return the ballots cast."""
    # In the quarter's last month, as evaluations usually run.
    opens = quarter.replace(month=quarter.month + 2, day=10, hour=1)  # 09:00 in Beijing
    closes = opens + timedelta(days=EVALUATION_DAYS)
    survey = create_survey(
        actor, title=f"{_quarter_name(quarter)}党组织书记民主评议",
        description="请对本社区（村）党组织书记本季度的工作进行评议。评议匿名进行，结果按社区汇总，不少于5人作答的才予公布。",
        kind=SurveyKind.democratic_evaluation, anonymity=Anonymity.anonymous, opens_at=opens, closes_at=closes,
        min_group_size=5, owner_organization_id=None,
    )
    set_targets(actor, survey, [communities[name].id for name in plans])
    open_survey(actor, survey, opens, box_key=box_key)
    votes = []
    for name, plan in plans.items():
        community = communities[name]
        codes = generate_codes(actor, survey, community.id, plan.codes_issued, key, opens)
        voters = [Voter(resident=r) for r in rng.sample(_residents(community), plan.accounts)]
        voters += [Voter(invitation=find_invitation(survey, c, key)) for c in codes[:plan.codes_used]]
        overall = [SATISFIED] * plan.satisfied + [BASIC] * plan.basic + [DISSATISFIED] * plan.dissatisfied
        rng.shuffle(overall)
        commenting = set(rng.sample(range(len(voters)), plan.comments))
        # The improved community's satisfied voters may also say what got better.
        comments = _comment_picker(rng, improved=name == improved)
        for index, (voter, answer) in enumerate(zip(voters, overall, strict=True)):
            comment = comments(answer) if index in commenting else ""
            at = opens + timedelta(seconds=rng.uniform(3600, (closes - opens).total_seconds() - 3600))
            votes.append((at, voter, _evaluation_answers(survey, answer, comment, rng)))
    votes.sort(key=lambda vote: vote[0])
    for at, voter, answers in votes:
        submit_ballot(survey, voter, answers, at)
    close_survey(actor, survey, closes)
    # The published results come from the tally, as every real survey's do.
    count_survey(survey, box_key, closes, rng)
    publish_survey(actor, survey, closes + timedelta(days=5))
    return len(votes)


def _comment_picker(rng: random.Random, improved: bool):
    """Return a function giving a comment that fits the overall answer, without repeats while the pool lasts."""
    pools: dict[str, list[str]] = {}

    def pick(answer: str) -> str:
        if not pools.get(answer):
            pool = COMMENTS[answer] + (IMPROVED if improved and answer == SATISFIED else [])
            pools[answer] = rng.sample(pool, len(pool))
        return pools[answer].pop()

    return pick


def _evaluation_answers(survey: Survey, overall: str, comment: str, rng: random.Random) -> dict[str, str]:
    """Answer the democratic evaluation's template in keeping with the overall answer."""
    first, grade, *pillars, free = survey.questions
    grades = GRADE_WEIGHTS[overall]
    answers = {
        _key(first): overall,
        _key(grade): rng.choices(list(grades), list(grades.values()))[0],
        _key(free): comment,
    }
    for question in pillars:
        answers[_key(question)] = DONT_KNOW if rng.random() < DONT_KNOW_SHARE else \
            rng.choices(OPTIONS[QuestionType.rating3], PILLAR_WEIGHTS[overall])[0]
    return answers


def _key(question: Question) -> str:
    return f"q{question.id}"


def _open_survey(actor: User, now: datetime, communities: list[Organization], key: bytes, box_key: bytes,
                 rng: random.Random) -> tuple[Survey, list[tuple[str, str]], int]:
    """Open a satisfaction survey two days ago for two weeks, with a few ballots and unused codes."""
    # Whole minutes, as open_survey keeps the opening time.
    opens = (now - timedelta(days=2)).replace(second=0, microsecond=0)
    survey = create_survey(
        actor, title=f"{_quarter_name(_quarter_start(now, 0))}东湖街道社区服务满意度调查",
        description="了解居民对社区党群服务中心的评价和需求，匿名填写，约需两分钟。",
        kind=SurveyKind.service_satisfaction, anonymity=Anonymity.anonymous, opens_at=opens,
        closes_at=opens + timedelta(days=EVALUATION_DAYS), min_group_size=5, owner_organization_id=None,
    )
    for qtype, text, required, dont_know, choices in OPEN_SURVEY_QUESTIONS:
        add_question(actor, survey, qtype=qtype, text=text, required=required,
                     allow_dont_know=dont_know, choices=choices)
    set_targets(actor, survey, [c.id for c in communities])
    open_survey(actor, survey, opens, box_key=box_key)
    cast = 0
    codes = []
    for community in communities:
        # Not the first residents, so the demo's resident logins can still answer.
        for resident in rng.sample(_residents(community)[5:], rng.randint(2, 4)):
            at = opens + timedelta(seconds=rng.uniform(600, (now - opens).total_seconds() - 600))
            submit_ballot(survey, Voter(resident=resident), _service_answers(survey, rng), at)
            cast += 1
        fresh = generate_codes(actor, survey, community.id, OPEN_SURVEY_CODES, key, now)
        codes += [(community.name, format_code(code)) for code in sorted(fresh)]
    return survey, codes, cast


def _service_answers(survey: Survey, rng: random.Random) -> dict[str, str]:
    """Answer the satisfaction survey: mostly content, the optional questions sometimes skipped."""
    overall = rng.choices(OPTIONS[QuestionType.rating3], (5, 4, 1))[0]
    answers = {}
    for question in survey.questions:
        if not question.required and rng.random() < 0.3:
            continue
        if question.type == QuestionType.rating3:
            answers[_key(question)] = rng.choices(OPTIONS[QuestionType.rating3], PILLAR_WEIGHTS[overall])[0]
        elif question.type == QuestionType.likert5:
            answers[_key(question)] = rng.choices(OPTIONS[QuestionType.likert5], (0, 1, 2, 4, 3))[0]
        elif question.type == QuestionType.single_choice:
            answers[_key(question)] = rng.choice(question.option_values())
        elif question.type == QuestionType.free_text:
            answers[_key(question)] = rng.choice(COMMENTS[BASIC])
    return answers
