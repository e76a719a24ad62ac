// Playing the user in the VS Code workbench through headless Debian Chromium (playwright-core).
// Selectors are those of docs E2E.md.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const chromiumArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export class Workbench {
  constructor(context, page, screenshotsDir) {
    this.context = context;
    this.page = page;
    this.screenshotsDir = screenshotsDir;
    this.shots = 0;
  }

  /** Opens `url` in a fresh Chromium profile under the run folder and waits for the workbench. */
  static async open({ url, run, env, screenshotsDir }) {
    mkdirSync(screenshotsDir, { recursive: true });
    const context = await chromium.launchPersistentContext(join(run, 'chromium-profile'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1400, height: 900 },
      args: chromiumArgs,
      env,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(url);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    return new Workbench(context, page, screenshotsDir);
  }

  /** Opens the Command Palette with `text` typed in (`>` for commands, `:` for a line…). */
  async quickInput(text) {
    await this.page.keyboard.press('F1');
    const input = this.page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible' });
    await input.fill(text);
    return input;
  }

  /** The visible rows of the open quick input whose text contains `text`. */
  quickInputRows(text) {
    return this.page.locator('.quick-input-list .monaco-list-row', { hasText: text });
  }

  async closeQuickInput() {
    await this.page.keyboard.press('Escape');
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
  }

  /** Runs a command from the palette by its full title, e.g. "BERT: Open Training Panel". */
  async runCommand(title) {
    await this.quickInput(`>${title}`);
    await this.quickInputRows(title).first().waitFor({ timeout: 15_000 });
    await this.page.keyboard.press('Enter');
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
  }

  /** Quick-opens a workspace file and returns its editor. */
  async openFile(name) {
    await this.page.keyboard.press('Control+P');
    const input = this.page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible' });
    await input.fill(name);
    await this.quickInputRows(name).first().waitFor();
    await this.page.keyboard.press('Enter');
    const editor = this.page.locator(`.editor-instance .monaco-editor[data-uri$="${name}"]`);
    await editor.waitFor();
    return editor;
  }

  /** Selects line `line` (1-based) of the active editor, from its start to its end. */
  async selectLine(line) {
    await this.quickInput(`:${line}`);
    await this.page.keyboard.press('Enter');
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    await this.page.keyboard.press('Home');
    await this.page.keyboard.press('Shift+End');
    await this.page.locator('.editor-instance .monaco-editor .selected-text').first().waitFor();
  }

  /** The first notification toast whose message matches `pattern`, once it shows. */
  async notification(pattern, timeout = 30_000) {
    const message = this.page.locator('.notifications-toasts .notification-list-item-message').filter({ hasText: pattern });
    await message.first().waitFor({ timeout });
    return (await message.first().innerText()).trim();
  }

  /** The document of the active webview: two iframes deep. */
  webview() {
    return this.page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
  }

  /** Saves a numbered PNG of the page into the screenshots folder and returns its path. */
  async screenshot(name) {
    this.shots += 1;
    const path = join(this.screenshotsDir, `${String(this.shots).padStart(2, '0')}-${name}.png`);
    await this.page.screenshot({ path });
    return path;
  }

  async close() {
    await this.context.close();
  }
}
