"""Ready-made customer and staff forms (questions in English and Chinese)."""

from __future__ import annotations

from typing import Any

AGE_BANDS = [
    {"value": "under_30", "label_en": "Under 30", "label_zh": "30岁以下"},
    {"value": "30_59", "label_en": "30–59", "label_zh": "30–59岁"},
    {"value": "60+", "label_en": "60 or over", "label_zh": "60岁及以上"},
]


def _q(key: str, kind: str, en: str, zh: str, required: bool = True, **extra: Any) -> dict:
    return {"key": key, "type": kind, "label_en": en, "label_zh": zh, "required": required, **extra}


def customer_template() -> dict[str, Any]:
    return {
        "title_en": "How was your visit?",
        "title_zh": "您对本次用餐体验满意吗？",
        "intro_en": "A few quick questions, anonymous. Thank you for helping us improve.",
        "intro_zh": "几个简单问题，匿名填写。感谢您帮助我们改进服务。",
        "questions": [
            _q(
                "overall",
                "rating",
                "Overall, how satisfied are you today?",
                "总体来说，您今天满意吗？",
            ),
            _q(
                "ease",
                "rating",
                "How easy was it to order with the new process?",
                "新的点餐方式使用起来方便吗？",
            ),
            _q(
                "waiting",
                "rating",
                "How do you rate the waiting time?",
                "您对等候时间满意吗？",
                required=False,
            ),
            _q(
                "recommend",
                "nps",
                "How likely are you to recommend us to a friend?",
                "您有多大可能向朋友推荐我们？",
            ),
            _q("comment", "text", "Anything we should change?", "您有什么建议吗？", required=False),
            _q(
                "age_band",
                "single_choice",
                "Your age",
                "您的年龄",
                required=False,
                options=AGE_BANDS,
                segment=True,
            ),
        ],
    }


def staff_template() -> dict[str, Any]:
    return {
        "title_en": "Staff check-in on the new process",
        "title_zh": "员工反馈：新流程使用情况",
        "intro_en": "Your honest view helps us plan the rollout.",
        "intro_zh": "您的真实想法将帮助我们规划推广。",
        "questions": [
            _q(
                "workload",
                "rating",
                "How manageable was your workload today?",
                "今天的工作量还可以吗？",
            ),
            _q("ease", "rating", "How easy is the new process for you?", "新流程对您来说容易吗？"),
            _q(
                "problems",
                "multi_choice",
                "Problems you saw today",
                "今天遇到的问题",
                required=False,
                options=[
                    {"value": "network", "label_en": "Network / payment", "label_zh": "网络/支付"},
                    {
                        "value": "seniors",
                        "label_en": "Seniors need help",
                        "label_zh": "老年顾客需要帮助",
                    },
                    {
                        "value": "printer",
                        "label_en": "Printer / kitchen tickets",
                        "label_zh": "打印机/后厨单",
                    },
                    {"value": "menu", "label_en": "Menu content", "label_zh": "菜单内容"},
                ],
            ),
            _q("suggestions", "text", "Suggestions", "建议", required=False),
            _q(
                "attitude",
                "rating",
                "How do you feel about rolling this change out further?",
                "您对进一步推广这项改变的态度如何？",
            ),
        ],
    }
