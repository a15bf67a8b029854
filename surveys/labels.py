"""The words shown for surveys' kinds, states, question types and answer options, in one place."""
from flask_babel import lazy_gettext as _l, lazy_pgettext

from surveys.models import DONT_KNOW, Anonymity, QuestionType, SurveyKind

KIND_LABELS = {
    SurveyKind.democratic_evaluation: _l("Democratic evaluation"),
    SurveyKind.service_satisfaction: _l("Service satisfaction"),
    SurveyKind.general: _l("General survey"),
}
#: What the survey is doing now: its effective state, or "scheduled" for an open survey before its opening time.
STATUS_LABELS = {
    "draft": _l("Draft"),
    "scheduled": _l("Scheduled"),
    # A survey that is open or closed is not a case that is: other words in Chinese.
    "open": lazy_pgettext("survey state", "Open"),
    "closed": lazy_pgettext("survey state", "Closed"),
    "published": _l("Published"),
}
ANONYMITY_LABELS = {Anonymity.anonymous: _l("Anonymous"), Anonymity.identified: _l("Identified")}
QUESTION_TYPE_LABELS = {
    QuestionType.rating3: _l("Satisfaction (satisfied / basically satisfied / dissatisfied)"),
    QuestionType.grade4: _l("Grade (excellent / competent / basically competent / incompetent)"),
    QuestionType.likert5: _l("Scale from 1 to 5"),
    QuestionType.single_choice: _l("Single choice"),
    QuestionType.free_text: _l("Free text"),
}
#: The words for each answer value of the closed question types, in one place.
OPTION_LABELS = {
    QuestionType.rating3: {
        "satisfied": _l("Satisfied"), "basically_satisfied": _l("Basically satisfied"),
        "dissatisfied": _l("Dissatisfied"), DONT_KNOW: _l("Don't know"),
    },
    QuestionType.grade4: {
        "excellent": _l("Excellent"), "competent": _l("Competent"),
        "basically_competent": _l("Basically competent"), "incompetent": _l("Incompetent"),
    },
    QuestionType.likert5: {
        "1": _l("1 — strongly disagree"), "2": "2", "3": "3", "4": "4", "5": _l("5 — strongly agree"),
    },
}
