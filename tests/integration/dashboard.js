// dashboard.js CDP_URL: the steps of 84-dashboard.sh in the headless
// Chromium it started, through playwright-core over the DevTools protocol.
// It reads one step a line ("STEP ARG..."), does it and answers one line
// of JSON: what it saw, or {"error": why}.  The page stays open between
// steps; the shell script acts on swarmd in between.
'use strict';
const path = require('path');
const { chromium } = require(path.join(process.env.PLAYWRIGHT_DIR,
  'node_modules', 'playwright-core'));

const readline = require('readline');

const cdp = process.argv[2];
const TIMEOUT = 30000;

async function page(browser) {
  const ctx = browser.contexts()[0];
  const p = ctx.pages().find(q => q.url().startsWith('http://')) ||
    ctx.pages()[0] || await ctx.newPage();
  p.setDefaultTimeout(TIMEOUT);
  return p;
}

// The page was not reloaded: the mark set when it was opened is there.
async function sameLoad(p) {
  if (!(await p.evaluate(() => window.testMark === 1)))
    throw new Error('the page was reloaded');
}

const steps = {
  // open URL: load the page; it shows the job and goes live.
  async open(p, url, job) {
    await p.setViewportSize({ width: 1280, height: 800 });
    await p.goto(url);
    await p.evaluate(() => { window.testMark = 1; });
    await p.waitForFunction(() => document.getElementById('conn').textContent === 'live');
    await p.waitForSelector(`#jobs tr[data-job="${job}"]`);
    return { title: await p.title(), operator: await p.evaluate(() => window.swarmd.operator) };
  },
  // done JOB N: the job's row says N chunks done, without a reload.
  async done(p, job, n) {
    await p.waitForFunction(([j, k]) => {
      const tr = document.querySelector(`#jobs tr[data-job="${j}"]`);
      return tr && Number(tr.dataset.done) >= Number(k);
    }, [job, n]);
    await sameLoad(p);
    return { done: await p.$eval(`#jobs tr[data-job="${job}"]`, tr => tr.dataset.done) };
  },
  // tokens JOB N: the job's row counts N tokens, as swarmctl cost does.
  async tokens(p, job, n) {
    await p.waitForFunction(([j, k]) => {
      const tr = document.querySelector(`#jobs tr[data-job="${j}"]`);
      return tr && tr.dataset.tokens === String(k);
    }, [job, n]);
    return { tokens: await p.$eval(`#jobs tr[data-job="${job}"]`, tr => tr.dataset.tokens) };
  },
  // event NAME TEXT: an event NAME whose line holds TEXT is listed.
  async event(p, name, text) {
    await p.waitForFunction(([n, t]) => [...document.querySelectorAll('#events li')]
      .some(li => li.querySelector('.ev').textContent === n && li.textContent.includes(t)),
    [name, text]);
    await sameLoad(p);
    return { seen: await p.evaluate(() => window.swarmd.seen.length) };
  },
  // down: the page says the feed is gone.
  async down(p) {
    await p.waitForFunction(() => document.getElementById('conn').textContent !== 'live');
    return { conn: await p.$eval('#conn', e => e.textContent) };
  },
  // live: reconnected by itself (a second open), the same page.
  async live(p) {
    await p.waitForFunction(() => window.swarmd.opened >= 2 &&
      document.getElementById('conn').textContent === 'live');
    await sameLoad(p);
    return { opened: await p.evaluate(() => window.swarmd.opened) };
  },
  // seen [SEQ]: every event seq the page was sent (once it has SEQ), and
  // how many came twice.
  async seen(p, seq) {
    if (seq)
      await p.waitForFunction((n) => window.swarmd.lastSeq >= n, Number(seq));
    return p.evaluate(() => ({ seen: window.swarmd.seen, dups: window.swarmd.dups }));
  },
  // timeline AGENT: click the agent; its timeline lists these kinds.
  async timeline(p, agent, ...kinds) {
    await p.click(`#agents tr[data-agent="${agent}"]`);
    await p.waitForFunction((ks) => {
      const got = [...document.querySelectorAll('#timeline .kind')].map(k => k.textContent);
      return ks.every(k => got.includes(k));
    }, kinds);
    return { kinds: await p.$$eval('#timeline .kind', ks => ks.map(k => k.textContent)) };
  },
  // buttons: how many abort buttons the page shows.
  async buttons(p) {
    return { abort: await p.$$eval('#agents button.danger', bs => bs.length) };
  },
  async screenshot(p, file) {
    await p.screenshot({ path: file, fullPage: false });
    return { file };
  },
};

(async () => {
  const browser = await chromium.connectOverCDP(cdp);
  const p = await page(browser);
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [step, ...args] = line.split(' ');
    let r;
    try {
      r = await steps[step](p, ...args);
    } catch (err) {
      r = { error: step + ': ' + err.message.split('\n')[0] };
    }
    process.stdout.write(JSON.stringify(r) + '\n');
  }
  process.exit(0);
})();
