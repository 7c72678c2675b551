"""The status page's one inline stylesheet (no font, image or URL: the page loads nothing);
the attention words' colours, the overview, the cards, the timeline and the narrow layout."""

CSS = """
:root{--ink:#1d2430;--muted:#5b6675;--line:#d5dae1;--bg:#f4f6f9;--ok:#1a7f37;--behind:#b35900;
--fail:#c62828;--refused:#8e244d;--expiring:#7a5c00;--deferred:#4d5a6b;--pin:#6f42c1;
--held:#1f6feb;--target:#2da44e}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
background:var(--bg);-webkit-print-color-adjust:exact;print-color-adjust:exact}
header.page,main,footer{max-width:1040px;margin:0 auto;padding:0 16px}
header.page{padding-top:20px}h1{font-size:1.5rem;margin:0 0 2px}
.meta{color:var(--muted);margin:0 0 10px}
.summary{list-style:none;padding:0;margin:0 0 16px;display:flex;gap:8px;flex-wrap:wrap}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:.85rem;font-weight:600;
color:#fff;background:var(--muted)}
.badge.ok{background:var(--ok)}.badge.behind{background:var(--behind)}
.badge.failing{background:var(--fail)}.badge.refused{background:var(--refused)}
.badge.expiring{background:var(--expiring)}.badge.deferred{background:var(--deferred)}
.badge.pinned{background:var(--pin)}
.card{background:#fff;border:1px solid var(--line);border-left:6px solid var(--muted);
border-radius:8px;padding:14px 18px;margin:0 0 16px;box-shadow:0 1px 2px #0001}
.card.ok{border-left-color:var(--ok)}.card.behind{border-left-color:var(--behind)}
.card.failing{border-left-color:var(--fail)}.card.refused{border-left-color:var(--refused)}
.card.expiring{border-left-color:var(--expiring)}.card.deferred{border-left-color:var(--deferred)}
.card>header{display:flex;align-items:center;gap:8px;flex-wrap:wrap}
.card>header code{color:var(--muted);font-size:.85rem;overflow-wrap:anywhere}
.card>header .up{margin-left:auto;font-size:.8rem;color:var(--muted)}
h2{font-size:1.05rem;margin:0;overflow-wrap:anywhere}
table.overview{background:#fff;border:1px solid var(--line);border-radius:8px;margin:0 0 20px}
table.overview caption{padding:0 0 6px}table.overview th,table.overview td{padding:4px 8px}
table.overview td code,.tenant{font-size:.8rem}.tenant,.none{color:var(--muted)}
table.overview td.name a{color:var(--ink);font-weight:600}
table.overview td{overflow-wrap:normal}.badge{white-space:nowrap}
table.overview td.graph,table.overview td.id,.tenant{overflow-wrap:anywhere}
table.overview td.id,table.overview td.identity{min-width:10em}
@media (max-width:1000px){table.overview thead{display:none}
table.overview tr{display:block;padding:6px 8px;border-bottom:1px solid var(--line)}
table.overview td{display:inline;border:0;padding:0 6px 0 0}
table.overview td.name,table.overview td:nth-child(5){display:block;padding-top:2px}
table.overview td.id,table.overview td.identity{min-width:0}
table.overview td:nth-child(n+7)::before,table.overview td:nth-child(4)::before{content:"· ";
color:var(--muted)}}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:10px 0}
.facts dt{color:var(--muted)}.facts dd{margin:0;overflow-wrap:anywhere}
.facts .error{color:var(--fail)}.facts .expiry.soon{color:var(--behind);font-weight:600}
figure{margin:16px 0 8px}svg.timeline{width:100%;height:auto;display:block;overflow:visible}
svg text{font-size:11px;fill:var(--ink)}
@media (max-width:900px){svg text{font-size:15px}}
.tick line{stroke:var(--line)}.tick text{fill:var(--muted)}
.today line{stroke:var(--fail);stroke-width:2}.today text{fill:var(--fail);font-weight:600}
.expiry line{stroke:var(--behind);stroke-width:1.5;stroke-dasharray:4 3}
.expiry text{fill:var(--behind)}
.version rect{fill:#9aa5b1}.version.usable rect{fill:#8fb8ff}
.version.held rect{fill:var(--held)}.version.target rect{fill:var(--target)}
.version.future rect{fill:#fff;stroke:var(--target);stroke-dasharray:4 2}
.version.disabled rect,.version.expired rect{fill:#e3e6ea}
.version.held text,.version.target text{font-weight:600}
figcaption{display:flex;gap:12px;flex-wrap:wrap;font-size:.8rem;color:var(--muted)}
.key::before{content:"";display:inline-block;width:12px;height:10px;border-radius:2px;
margin-right:4px;vertical-align:-1px;background:#9aa5b1}
.key.held::before{background:var(--held)}.key.target::before{background:var(--target)}
.key.usable::before{background:#8fb8ff}.key.future::before{border:1px dashed var(--target);
background:#fff}.key.disabled::before{background:#e3e6ea}
table{border-collapse:collapse;width:100%;margin:10px 0;font-size:.85rem}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{text-align:left;padding:3px 8px 3px 0;border-bottom:1px solid var(--line);
vertical-align:top;overflow-wrap:anywhere}
th{color:var(--muted);font-weight:600}code{font-family:ui-monospace,Menlo,monospace}
tr.failed .outcome,tr.refused .outcome,.outcome.failed,.outcome.refused{color:var(--fail);
font-weight:600}tr.rotated .outcome,.outcome.rotated{color:var(--ok);font-weight:600}
.history.none{color:var(--muted)}table.history td:not(:last-child){white-space:nowrap}
.last{color:var(--fail);font-size:.85rem}
footer{color:var(--muted);font-size:.8rem;padding-bottom:24px}
th{white-space:nowrap}
@media (max-width:560px){body{font-size:14px}.facts{grid-template-columns:1fr}
.facts dd{margin-bottom:4px}table.versions th:nth-child(2),table.versions td:nth-child(2){display:none}
svg .tick.alt text{display:none}svg text{font-size:20px}
table.history thead{display:none}table.history tr{display:block;padding:4px 0;
border-bottom:1px solid var(--line)}table.history td{display:inline;border:0;padding-right:6px}
table.history td:last-child{display:block;white-space:normal}}
@media print{body{background:#fff}.card{break-inside:avoid;box-shadow:none}footer{padding:0}}
"""
