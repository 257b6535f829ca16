// Times how long report pages take to open in headless Chromium (benches/report.rs runs it): one
// browser, network unreachable, a fresh tab per page; the time from navigation to the `load`
// event (the page is parsed, styled and its first screen laid out; it has no script or
// sub-resource to wait for), and the DOM's size. Start-up is timed separately: it is the
// browser's, not the page's.
// Usage: node report_open.js PAGE.html...  (NODE_PATH: where puppeteer-core is); prints one JSON
// object per page: {html, load_s, dom_content_loaded_s, nodes, elements}, after {launch_s}.
const puppeteer = require('puppeteer-core');

(async () => {
  const started = process.hrtime.bigint();
  const seconds = (from) => Number(process.hrtime.bigint() - from) / 1e9;
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--proxy-server=127.0.0.1:9', '--host-resolver-rules=MAP * ~NOTFOUND',
      '--no-first-run', '--disable-background-networking', '--disable-component-update'],
  });
  console.log(JSON.stringify({ launch_s: seconds(started) }));
  try {
    for (const html of process.argv.slice(2)) {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 1000 });
      const navigated = process.hrtime.bigint();
      await page.goto('file://' + html, { waitUntil: 'load', timeout: 300000 });
      const load = seconds(navigated);
      // The page has no script: this runs after the measurement, to count what was built.
      const stats = await page.evaluate(() => {
        const t = performance.getEntriesByType('navigation')[0];
        const walker = document.createTreeWalker(document, NodeFilter.SHOW_ALL);
        let nodes = 0;
        while (walker.nextNode()) nodes += 1;
        return {
          dom_content_loaded_s: t.domContentLoadedEventEnd / 1000,
          load_event_s: t.loadEventEnd / 1000,
          nodes,
          elements: document.getElementsByTagName('*').length,
        };
      });
      console.log(JSON.stringify({ html, load_s: load, ...stats }));
      await page.close();
    }
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
