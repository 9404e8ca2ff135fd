"""What every fairbench HTML page carries: styles (screen and print), the one inline script
(operating-point switcher, sortable and filterable tables) and a content-security policy
that lets exactly that script run and nothing be fetched.

The page is whole without the script: every operating point's findings are shown one
after another, tables are plain and details open by hand. The script only hides, sorts
and filters what is already there, and opens every detail before printing.
"""

from __future__ import annotations

import base64
import hashlib
import html

STYLE = """
:root{--ink:#222;--muted:#555;--line:#ccc;--fill:#f3f3f3;--accent:#0072B2}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:var(--ink);line-height:1.4}
h1{font-size:1.5em}h2{border-bottom:1px solid var(--line);padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.8em}
caption{font-weight:bold;text-align:left;padding:.3em 0}
th,td{border:1px solid var(--line);padding:.25em .5em;text-align:left;vertical-align:top}
th{background:var(--fill)}tbody tr:nth-child(even){background:#fafafa}
th[aria-sort]{cursor:pointer}th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
.note{font-size:.8em;color:var(--muted);margin:.2em 0}
.banner{background:#fff3cd;border:1px solid #e0c060;padding:.6em;font-weight:bold}
.citations li{margin:.5em 0}figure{margin:1em 0}figure img,figure svg{max-width:100%;
height:auto}figcaption{font-size:.85em;color:#444}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}
dd{margin:0;overflow-wrap:anywhere}pre{background:#f6f6f6;padding:.6em;overflow:auto;
font-size:.8em}details{margin:.6em 0}summary{cursor:pointer;font-weight:bold}
.switcher{margin:1em 0;display:flex;gap:.4em;flex-wrap:wrap;align-items:center}
.switcher[hidden]{display:none}
.switcher button{border:1px solid var(--accent);background:#fff;color:var(--accent);
padding:.25em .7em;border-radius:3px;cursor:pointer;font:inherit}
.switcher button[aria-pressed=true]{background:var(--accent);color:#fff}
.filter{margin:.3em 0;font:inherit;padding:.2em .4em}
.op-block{border-left:3px solid var(--accent);padding-left:1em;margin:1.5em 0}
.indistinct li,.top li{margin:.4em 0}.muted{color:var(--muted)}
@media print{body{max-width:none;margin:0;font-size:10pt}.switcher,.filter{display:none}
.op-block[hidden]{display:block}details>summary{list-style:none}
h2{break-after:avoid}figure,table{break-inside:avoid}a{color:inherit}}
"""

SCRIPT = """
(function(){
  var d=document;
  function num(t){var m=t.replace(/,/g,'').match(/-?\\d+(\\.\\d+)?(e-?\\d+)?/i);
    return m?parseFloat(m[0]):NaN;}
  var blocks=[].slice.call(d.querySelectorAll('.op-block[data-op]'));
  var bar=d.getElementById('op-switcher');
  if(bar&&blocks.length>1){
    var ops=[];blocks.forEach(function(b){if(ops.indexOf(b.dataset.op)<0)ops.push(b.dataset.op);});
    function show(op){blocks.forEach(function(b){b.hidden=b.dataset.op!==op;});
      [].forEach.call(bar.querySelectorAll('button'),function(x){
        x.setAttribute('aria-pressed',String(x.dataset.op===op));});
      bar.dataset.current=op;}
    ops.forEach(function(op){var b=d.createElement('button');b.type='button';
      b.dataset.op=op;b.textContent=op;b.addEventListener('click',function(){show(op);});
      bar.appendChild(b);});
    bar.hidden=false;show(ops[0]);
  }
  [].forEach.call(d.querySelectorAll('table.data'),function(t){
    var body=t.tBodies[0];if(!body)return;
    var f=d.createElement('input');f.type='search';f.className='filter';
    f.placeholder='filter rows';f.setAttribute('aria-label','filter rows of '+
      (t.caption?t.caption.textContent:'this table'));
    f.addEventListener('input',function(){var q=f.value.toLowerCase();
      [].forEach.call(body.rows,function(r){
        r.hidden=q!==''&&r.textContent.toLowerCase().indexOf(q)<0;});});
    t.parentNode.insertBefore(f,t);
    [].forEach.call(t.tHead?t.tHead.rows[0].cells:[],function(th,i){
      th.setAttribute('aria-sort','none');th.tabIndex=0;
      function sort(){var asc=th.getAttribute('aria-sort')!=='ascending';
        [].forEach.call(th.parentNode.cells,function(c){c.setAttribute('aria-sort','none');});
        th.setAttribute('aria-sort',asc?'ascending':'descending');
        var rows=[].slice.call(body.rows);
        rows.sort(function(a,b){var x=a.cells[i].textContent,y=b.cells[i].textContent;
          var nx=num(x),ny=num(y),c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);
          return asc?c:-c;});
        rows.forEach(function(r){body.appendChild(r);});}
      th.addEventListener('click',sort);
      th.addEventListener('keydown',function(e){if(e.key==='Enter')sort();});
    });
  });
  window.addEventListener('beforeprint',function(){
    [].forEach.call(d.querySelectorAll('details'),function(x){x.open=true;});});
})();
"""


def script_hash(script: str = SCRIPT) -> str:
    """The CSP source that allows exactly this inline script."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def csp(script: str = SCRIPT) -> str:
    """Nothing may be fetched; inline styles and data: images, and this one script."""
    return (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
            f"script-src {script_hash(script)}; base-uri 'none'; form-action 'none'")


def page(title: str, body: str, script: str = SCRIPT) -> str:
    """A whole self-contained HTML document around ``body``."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp(script)}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        f"{body}\n<script>{script}</script>\n</body></html>\n")
