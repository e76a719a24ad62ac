/**
 * Quick picks and input boxes for a multi-step flow: a title with the step number, a Back button
 * from the second step on, items that may still be loading (the pick shows busy meanwhile), and
 * `ignoreFocusOut` so that looking elsewhere does not throw the choices away.
 */
import * as vscode from 'vscode';

export const BACK = Symbol('back');
export type Answer<T> = T | typeof BACK | undefined;

export interface StepTitle {
  title: string;
  step: number;
  totalSteps: number;
  canGoBack: boolean;
}

export interface PickOptions<T extends vscode.QuickPickItem> extends StepTitle {
  placeholder: string;
  items: T[] | Promise<T[]>;
  /** The item Enter picks; the first one when not given. */
  active?: (item: T) => boolean;
}

/** Resolves with the picked item, BACK, or undefined when dismissed. Rejects when the items fail to load. */
export function pick<T extends vscode.QuickPickItem>(options: PickOptions<T>): Promise<Answer<T>> {
  const quickPick = vscode.window.createQuickPick<T>();
  setTitle(quickPick, options);
  quickPick.placeholder = options.placeholder;
  quickPick.matchOnDescription = true;
  quickPick.matchOnDetail = true;
  return new Promise<Answer<T>>((resolve, reject) => {
    const done = (answer: Answer<T>) => {
      resolve(answer);
      quickPick.dispose();
    };
    quickPick.onDidTriggerButton((button) => button === vscode.QuickInputButtons.Back && done(BACK));
    quickPick.onDidAccept(() => quickPick.selectedItems[0] && done(quickPick.selectedItems[0]));
    quickPick.onDidHide(() => done(undefined));
    quickPick.busy = true;
    quickPick.show();
    Promise.resolve(options.items).then(
      (items) => {
        quickPick.items = items;
        const active = options.active ? items.find(options.active) : undefined;
        if (active) quickPick.activeItems = [active];
        quickPick.busy = false;
      },
      (error) => {
        reject(error);
        quickPick.dispose();
      },
    );
  });
}

export interface InputOptions extends StepTitle {
  prompt: string;
  value: string;
  placeholder?: string;
  /** A message when the value is not acceptable. */
  validate: (value: string) => string | undefined;
}

/** Resolves with the accepted value, BACK, or undefined when dismissed. */
export function input(options: InputOptions): Promise<Answer<string>> {
  const box = vscode.window.createInputBox();
  setTitle(box, options);
  box.prompt = options.prompt;
  box.value = options.value;
  box.placeholder = options.placeholder;
  return new Promise<Answer<string>>((resolve) => {
    const done = (answer: Answer<string>) => {
      resolve(answer);
      box.dispose();
    };
    box.onDidTriggerButton((button) => button === vscode.QuickInputButtons.Back && done(BACK));
    box.onDidChangeValue((value) => (box.validationMessage = options.validate(value)));
    box.onDidAccept(() => {
      const problem = options.validate(box.value);
      if (problem) box.validationMessage = problem;
      else done(box.value);
    });
    box.onDidHide(() => done(undefined));
    box.show();
  });
}

function setTitle(input: vscode.QuickInput & { buttons: readonly vscode.QuickInputButton[] }, options: StepTitle): void {
  input.title = options.title;
  input.step = options.step;
  input.totalSteps = options.totalSteps;
  input.ignoreFocusOut = true;
  input.buttons = options.canGoBack ? [vscode.QuickInputButtons.Back] : [];
}
