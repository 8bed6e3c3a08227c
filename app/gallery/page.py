"""The gallery page: one static HTML file, thumbnails embedded as ``data:`` PNGs, no external resources.

Candidates are laid out in a grid, highest probability first, the way lens searches present them for
visual grading: each card shows the thumbnail (scaled up without smoothing), the rank, the cutout's id,
its lens probability (and whether it passed the model's threshold), RA and Dec in degrees and
sexagesimal, the file, and any warnings. Each card has grade buttons (A: definite lens, B: probable,
C: possible, X: not a lens) kept in the browser's local storage; "Download grades" saves them as CSV
(file, index, id, probability, grade).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

GRADES = ("A", "B", "C", "X")


@dataclass(frozen=True, slots=True)
class Card:
    """One candidate as the page shows it."""

    rank: int
    file: str
    index: int
    id: str
    probability: float
    is_lens: bool
    ra: float | None
    dec: float | None
    model: str
    warnings: str
    png: bytes | None
    kind: str
    heat: bytes | None = None  # the occlusion saliency overlay (lensfinder gallery --explain)


def sexagesimal(ra: float, dec: float) -> str:
    """RA as hh:mm:ss.ss and Dec as +dd:mm:ss.s (ICRS degrees in)."""
    hours = (ra % 360.0) / 15.0
    h, rem = divmod(hours * 3600.0, 3600.0)
    m, s = divmod(rem, 60.0)
    sign = "-" if dec < 0 else "+"
    d, drem = divmod(abs(dec) * 3600.0, 3600.0)
    dm, ds = divmod(drem, 60.0)
    return f"{int(h):02d}:{int(m):02d}:{s:05.2f} {sign}{int(d):02d}:{int(dm):02d}:{ds:04.1f}"


def _position(card: Card) -> str:
    if card.ra is None or card.dec is None or not (math.isfinite(card.ra) and math.isfinite(card.dec)):
        return "position unknown"
    return f"{card.ra:.5f}, {card.dec:+.5f}<br><span class=dim>{sexagesimal(card.ra, card.dec)}</span>"


def _card(card: Card) -> str:
    e = html.escape
    if card.png is not None:
        data = base64.b64encode(card.png).decode("ascii")
        picture = f'<img src="data:image/png;base64,{data}" alt="cutout {e(card.id)}" title="{e(card.kind)}">'
    else:
        picture = f'<div class="missing">{e(card.kind)}</div>'
    if card.heat is not None:
        heat = base64.b64encode(card.heat).decode("ascii")
        title = "occlusion saliency: red, evidence for a lens; blue, against"
        overlay = f'<img src="data:image/png;base64,{heat}" alt="saliency" title="{title}">'
        picture = f'<div class="pair">{picture}{overlay}</div>'
    name = card.file.rsplit("/", 1)[-1] + (f" [{card.index}]" if card.index > 0 else "")
    grades = "".join(f'<button type="button" data-grade="{g}">{g}</button>' for g in GRADES)
    lens = ' <span class="lens">lens</span>' if card.is_lens else ""
    warnings = f'<div class="warn">{e(card.warnings)}</div>' if card.warnings else ""
    kind = "card two" if card.heat is not None else "card"
    return (
        f'<figure class="{kind}" data-file="{e(card.file)}" data-index="{card.index}" data-id="{e(card.id)}" '
        f'data-p="{card.probability:.6f}">{picture}<figcaption>'
        f'<div><b>#{card.rank}</b> <span class="id">{e(card.id or "no id")}</span></div>'
        f'<div class="p">p = {card.probability:.4f}{lens}</div>'
        f"<div>{_position(card)}</div>"
        f'<div class="dim file" title="{e(card.file)}">{e(name)} &middot; {e(card.model)}</div>'
        f'{warnings}<div class="grades">{grades}</div></figcaption></figure>'
    )


STYLE = """
body{background:#111;color:#ddd;font:13px/1.35 system-ui,sans-serif;margin:16px}
h1{font-size:20px;margin:0 0 4px}.dim{color:#888}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(212px,1fr));gap:10px;margin-top:12px}
.card{margin:0;background:#1c1c1c;border:1px solid #333;border-radius:6px;padding:6px}
.card img,.missing{width:200px;height:200px;image-rendering:pixelated;display:block;margin:auto;
  background:#000}
.missing{display:flex;align-items:center;justify-content:center;color:#a66;text-align:center}
figcaption{margin-top:5px}.id{font-family:monospace}.p{color:#fc6}
.lens{background:#c63;color:#fff;border-radius:3px;padding:0 4px;font-size:11px}
.file{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.warn{color:#d9a441;font-size:11px}
.grades button{background:#2a2a2a;color:#ccc;border:1px solid #444;margin:4px 2px 0 0;width:28px;
  cursor:pointer}
.grades button.on{background:#4a7;color:#000}
.two{grid-column:span 2}.pair{display:flex;gap:6px;justify-content:center}.pair img{margin:0}
"""

SCRIPT = """
const store='lensfinder-grades:'+document.title;
const grades=JSON.parse(localStorage.getItem(store)||'{}');
for(const card of document.querySelectorAll('.card')){
  const key=card.dataset.file+'#'+card.dataset.index;
  for(const b of card.querySelectorAll('button')){
    if(grades[key]===b.dataset.grade)b.classList.add('on');
    b.onclick=()=>{for(const o of card.querySelectorAll('button'))o.classList.remove('on');
      b.classList.add('on');grades[key]=b.dataset.grade;localStorage.setItem(store,JSON.stringify(grades));};
  }
}
document.getElementById('download').onclick=()=>{
  const q=s=>'"'+String(s).replace(/"/g,'""')+'"';
  let csv='file,index,id,probability,grade\\n';
  for(const card of document.querySelectorAll('.card')){
    const g=grades[card.dataset.file+'#'+card.dataset.index];
    if(g)csv+=[q(card.dataset.file),card.dataset.index,q(card.dataset.id),card.dataset.p,g].join(',')+'\\n';
  }
  const a=document.createElement('a');a.href=URL.createObjectURL(new Blob([csv],{type:'text/csv'}));
  a.download='grades.csv';a.click();
};
"""


def page(title: str, subtitle: str, cards: Sequence[Card]) -> str:
    """The whole HTML document."""
    e = html.escape
    body = "\n".join(_card(card) for card in cards)
    legend = (
        "Colour: Lupton asinh composite, R, G, B = i, r, g; gray: asinh stretch of one band; north up. "
        "Grade with A (definite lens), B (probable), C (possible), X (not a lens)."
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{e(title)}</h1><div class=dim>{e(subtitle)}</div><div class=dim>{e(legend)} "
        f'<button type="button" id="download">Download grades</button></div>'
        f'<main class="grid">\n{body}\n</main><script>{SCRIPT}</script></body></html>\n'
    )
