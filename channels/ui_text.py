"""Chinese UI text of the resident-facing pages, in one place, and the small page shells."""

from __future__ import annotations

import html

BOT_UNAVAILABLE = "抱歉，助手暂时无法响应，请稍后再试，或拨打12345政务服务便民热线。"
BAD_REQUEST = "抱歉，没能读懂这条消息，请重新输入文字后发送。"
GUIDE_NOT_FOUND = "没有找到这个事项，可能编号有误。请在下面搜索您要办的事。"
CHAT_TITLE = "12345 在线导办"
CHAT_PLACEHOLDER = "请输入您想办的事，例如：宝宝刚出生要办什么"
CHAT_SEND = "发送"
CHAT_WELCOME = "您好，我是政务服务在线导办助手。请说说您想办的事，我帮您找到对应的“一件事”并说明材料、时限、费用和地点。"
CHAT_NETWORK_ERROR = "网络异常，消息未发出，请稍后重试。"
CHAT_TOO_FAST = "您发送得太快了，请稍等几秒再发。"
UPLOAD_TOO_LARGE = "文件太大（超过 {mb} MB），请压缩或分页后重新上传。"
UPLOAD_EMPTY = "这个文件是空的，请重新选择后上传。"
UPLOAD_SHOWN = "［上传文件］{name}"  # how an upload appears in the resident's own line and the transcript
HANDOFF_ASKED = "好的，正在为您转接人工导办专员。"

# the web chat page's strings (rendered into the page once; the script reads them from there)
WEBCHAT = {
    "title": CHAT_TITLE,
    "welcome": CHAT_WELCOME,
    "placeholder": CHAT_PLACEHOLDER,
    "send": CHAT_SEND,
    "upload": "上传材料",
    "upload_hint": "可上传照片（JPG/PNG）或 PDF，用于材料预审",
    "uploading": "正在上传：",
    "upload_failed": "上传失败，请重试。",
    "human": "转人工",
    "guides": "全部办事指南",
    "connecting": "正在连接…",
    "reconnecting": "连接已断开，正在重新连接…",
    "network_error": CHAT_NETWORK_ERROR,
    "rate_title": "请为本次服务评价",
    "rate_levels": ["非常不满意", "不满意", "基本满意", "满意", "非常满意"],
    "rate_comment": "还有什么想告诉我们的？（选填）",
    "rate_thanks": "感谢您的评价！",
    "notice_link": "查看告知书",
    "agent": "人工客服",
    "you": "我",
}

STYLE = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;margin:0;background:#f5f6f8;color:#1d1d1f;line-height:1.6}
main{max-width:760px;margin:0 auto;padding:12px 16px}
h1{font-size:1.3rem;color:#0b4ea2}h2{font-size:1.05rem;color:#0b4ea2;margin-top:1.2em}
a{color:#0b4ea2}
#log{background:#fff;border-radius:8px;padding:8px;min-height:50vh;max-height:65vh;overflow-y:auto}
.msg{margin:8px 0;padding:8px 12px;border-radius:8px;white-space:pre-wrap;max-width:85%}
.bot{background:#eef3fb}.me{background:#0b4ea2;color:#fff;margin-left:auto}
.choices button{margin:4px 4px 0 0;border:1px solid #0b4ea2;background:#fff;color:#0b4ea2;border-radius:16px;padding:4px 12px}
form.send{display:flex;gap:8px;margin-top:8px}form.send input{flex:1;padding:10px;font-size:1rem}
form.send button{padding:10px 16px;background:#0b4ea2;color:#fff;border:0;border-radius:6px}
"""


def page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )


CHAT_SCRIPT = """
const log=document.getElementById('log'),form=document.getElementById('send'),input=document.getElementById('text');
function add(text,who,buttons){const d=document.createElement('div');d.className='msg '+who;d.textContent=text;
 if(buttons&&buttons.length){const c=document.createElement('div');c.className='choices';
  buttons.forEach(b=>{const x=document.createElement('button');x.type='button';x.textContent=b.title;
   x.onclick=()=>send(b.payload,b.title);c.appendChild(x)});d.appendChild(c)}
 log.appendChild(d);log.scrollTop=log.scrollHeight}
async function send(text,shown){add(shown||text,'me');
 try{const r=await fetch('/api/chat',{method:'POST',headers:{'Content-Type':'application/json'},body:JSON.stringify({text})});
  const j=await r.json();(j.messages||[]).forEach(m=>add(m.text||'','bot',m.buttons))}
 catch(e){add(NETWORK_ERROR,'bot')}}
form.addEventListener('submit',e=>{e.preventDefault();const t=input.value;if(!t.trim())return;input.value='';send(t)});
add(WELCOME,'bot');
"""


def render_chat_page() -> str:
    script = CHAT_SCRIPT.replace("NETWORK_ERROR", repr(CHAT_NETWORK_ERROR)).replace("WELCOME", repr(CHAT_WELCOME))
    body = (
        '<div id="log" role="log" aria-live="polite"></div>'
        f'<form id="send" class="send"><input id="text" aria-label="{CHAT_PLACEHOLDER}" placeholder="{CHAT_PLACEHOLDER}" maxlength="2000">'
        f"<button>{CHAT_SEND}</button></form><p><a href=\"/guide\">查看全部办事指南</a></p><script>{script}</script>"
    )
    return page(CHAT_TITLE, body)
