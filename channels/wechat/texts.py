"""What WeChat residents read from this channel itself (the bot's answers come from Rasa)."""

from __future__ import annotations

WELCOME = (
    "您好，欢迎关注{name}！我是政务服务在线导办助手，可以帮您：\n"
    "1. 找到要办的“一件事”，例如“宝宝刚出生要办什么”\n"
    "2. 说清材料、时限、费用、地点，以及能不能网上办\n"
    "3. 预审材料：按提示发送材料照片，先帮您查缺漏\n"
    "4. 需要时转接人工客服\n"
    "直接发文字告诉我您想办的事就可以；有选项时回复数字即可。"
)
VOICE_TYPE = "抱歉，暂时听不清语音内容。请用文字告诉我您想办的事，例如“怎么办理居住证”。"
UNSUPPORTED = "抱歉，暂时只能处理文字、图片和语音消息。请用文字告诉我您想办的事，或发送材料照片进行预审。"
IMAGE_FAILED = "抱歉，图片没有接收成功，请稍后重新发送，或换一张清晰的照片。"
IMAGE_TOO_LARGE = "图片太大（超过 {mb} MB），请压缩后重新发送。"
LOCATION = "已收到您的位置（{label}）。您可以到以下地点办理："
LOCATION_TAIL = "说出您想办的事，我再告诉您具体在哪个窗口办理。"
RATING_UNAVAILABLE = "感谢您的评价！"
MENU_UNKNOWN = "这个菜单暂时不可用，请直接发文字告诉我您想办的事。"
