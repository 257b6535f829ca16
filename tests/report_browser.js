// Opens report pages in one headless Chromium (tests/report_html.rs runs it): for each page, with
// JavaScript disabled and the network unreachable (a dead proxy, every host name unresolvable),
// records every request that is not the page's own file, takes a screenshot and saves the DOM as
// Chromium built it; then, on a second tab with scripts allowed for axe-core only, runs axe's
// WCAG 2 A/AA rules and best practices (colour contrast, landmarks, regions, labels).
// Usage: node report_browser.js JOBS.json  (JOBS: [{"html", "png", "dom"}]); prints one JSON
// object per page on stdout: {html, requests, violations: [{id, impact, nodes, target}]}.
const fs = require('fs');
const puppeteer = require('puppeteer-core');

const AXE = require.resolve('axe-core/axe.min.js');

async function inspect(browser, job) {
  const url = 'file://' + job.html;
  const requests = [];
  const page = await browser.newPage();
  await page.setJavaScriptEnabled(false);
  await page.setViewport({ width: 1280, height: 1000 });
  page.on('request', (r) => { if (r.url() !== url && !r.url().startsWith('data:')) requests.push(r.url()); });
  await page.goto(url, { waitUntil: 'load' });
  await page.screenshot({ path: job.png, type: 'png' });
  fs.writeFileSync(job.dom, await page.content());
  await page.close();

  // axe-core is a script: it needs a tab that runs scripts. The page itself has none.
  const audit = await browser.newPage();
  audit.on('request', (r) => { if (r.url() !== url && !r.url().startsWith('data:')) requests.push(r.url()); });
  await audit.goto(url, { waitUntil: 'load' });
  await audit.addScriptTag({ content: fs.readFileSync(AXE, 'utf8') });
  const result = await audit.evaluate(() => axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice'] },
    resultTypes: ['violations'],
  }));
  await audit.close();
  return {
    html: job.html,
    requests,
    violations: result.violations.map((v) => ({
      id: v.id, impact: v.impact, nodes: v.nodes.length,
      target: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    })),
  };
}

(async () => {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--proxy-server=127.0.0.1:9', '--host-resolver-rules=MAP * ~NOTFOUND',
      '--no-first-run', '--disable-background-networking', '--disable-component-update'],
  });
  try {
    for (const job of jobs) {
      console.log(JSON.stringify(await inspect(browser, job)));
    }
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
