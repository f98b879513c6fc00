"""Fixed vocabulary of the demo chain: regions, cities, metrics and comments."""

from __future__ import annotations

REGIONS: dict[str, list[tuple[str, list[str]]]] = {
    "East": [
        ("上海", ["徐汇", "静安", "浦东", "闵行", "杨浦", "长宁", "普陀", "宝山"]),
        ("杭州", ["西湖", "滨江", "上城", "拱墅", "萧山"]),
        ("南京", ["鼓楼", "玄武", "江宁", "建邺"]),
        ("苏州", ["姑苏", "工业园区", "吴中", "相城"]),
    ],
    "South": [
        ("广州", ["天河", "越秀", "海珠", "番禺", "白云"]),
        ("深圳", ["南山", "福田", "宝安", "龙华", "罗湖"]),
        ("厦门", ["思明", "湖里", "集美", "海沧"]),
    ],
    "North": [
        ("北京", ["朝阳", "海淀", "东城", "丰台", "通州", "西城"]),
        ("天津", ["和平", "南开", "河西"]),
        ("济南", ["历下", "市中", "槐荫"]),
    ],
    "Southwest": [
        ("成都", ["锦江", "武侯", "高新", "青羊", "金牛"]),
        ("重庆", ["渝中", "江北", "南岸", "沙坪坝"]),
        ("昆明", ["五华", "盘龙", "官渡", "西山"]),
    ],
}

#: key, English name, Chinese name, unit, kind, better direction, description
METRICS = [
    (
        "avg_wait_min",
        "Average wait",
        "平均等待时间",
        "min",
        "continuous",
        "decrease",
        "Minutes from queueing to order placed, daily average",
    ),
    (
        "table_turnover",
        "Table turnover",
        "翻台率",
        "turns",
        "continuous",
        "increase",
        "Seatings per table per day",
    ),
    ("orders", "Orders", "订单数", "orders", "count", "increase", "Orders per day"),
    (
        "avg_ticket",
        "Average ticket",
        "客单价",
        "CNY",
        "continuous",
        "increase",
        "Revenue per order",
    ),
    (
        "complaints",
        "Complaints",
        "投诉数",
        "complaints",
        "count",
        "decrease",
        "Customer complaints logged per day",
    ),
    (
        "satisfaction_rate",
        "Satisfaction rate",
        "满意率",
        "share",
        "proportion",
        "increase",
        "Share of surveyed customers rating 4 or 5",
    ),
]

#: The second demo pilot's metrics (``app.demo.rollout``), in the same columns, no description.
ROLLOUT_METRICS = [
    ("counter_queue_min", "Counter queue time", "柜台排队时间", "min", "continuous", "decrease"),
    ("order_errors", "Order errors", "点单错误", "errors", "count", "decrease"),
]

#: The decided demo pilot's metrics (``app.demo.finished``), in the same columns.
FINISHED_METRICS = [
    ("serve_time_min", "Time to serve", "出餐时间", "min", "continuous", "decrease"),
    ("dishes_returned", "Dishes returned", "退菜数", "dishes", "count", "decrease"),
]

#: The bounds of the demo metrics' daily values, ``key: (min, max)`` (``None``: unbounded): a
#: wait cannot be negative nor last beyond a day, a share lies between 0 and 1, counts and
#: amounts are never negative.
METRIC_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "avg_wait_min": (0.0, 1440.0),
    "table_turnover": (0.0, None),
    "orders": (0.0, None),
    "avg_ticket": (0.0, None),
    "complaints": (0.0, None),
    "satisfaction_rate": (0.0, 1.0),
    "counter_queue_min": (0.0, 1440.0),
    "order_errors": (0.0, None),
    "serve_time_min": (0.0, 1440.0),
    "dishes_returned": (0.0, None),
}

CUSTOMER_COMMENTS = {
    "positive": [
        "扫码点餐很方便，不用排队了",
        "上菜比以前快多了",
        "服务员很热情",
        "点餐速度快，体验很好",
        "Ordering by QR code was quick and easy",
        "No queue at the counter, great",
        "Food arrived faster than last time",
    ],
    "negative": [
        "手机扫码太麻烦了，老人不会用",
        "二维码扫不出来，等了很久",
        "菜单字太小看不清",
        "网络太慢，付款失败了两次",
        "I could not find how to add a drink, too complicated",
        "The QR menu is hard to read for my parents",
    ],
    "senior_negative": [
        "我不会用手机点餐，没人帮忙",
        "字太小了，老年人看不清",
        "还是喜欢人工点餐",
        "扫码点餐对老人太难了",
    ],
    "senior_positive": [
        "服务员帮我扫码点餐，很贴心",
        "有人教我用手机点菜，挺好",
        "店员耐心帮忙，点餐顺利",
    ],
}

STAFF_COMMENTS = [
    "高峰期收银压力小了",
    "老年顾客需要更多帮助",
    "后厨出单更清楚",
    "网络偶尔不稳定",
    "Fewer mistakes on orders now",
    "Need a tablet at the door for walk-ins",
]

RETRO_NOTES = {
    "went_well": [
        "排队时间明显缩短",
        "年轻顾客接受度高",
        "Kitchen tickets are clearer",
        "Peak-hour queue shorter at most sites",
    ],
    "problems": [
        "老年顾客不会扫码点餐",
        "部分门店 Wi-Fi 不稳定",
        "菜单图片加载慢",
        "Seniors struggle with QR ordering",
        "Printer jams at two sites",
    ],
    "ideas": [
        "安排店员协助老年顾客点餐",
        "桌贴加大字号",
        "Add a large-print menu card",
        "Offer help at the door during lunch peak",
    ],
}
