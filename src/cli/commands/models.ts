// `noisy-student models [pattern...]`: timm's list_models from the command line.
import { Command } from 'commander';
import { listModels } from '../../models/index.js';
import { addJsonOption, printJson } from '../options.js';

interface ModelsOptions {
  pretrained?: boolean;
  tags?: boolean;
  json?: boolean;
}

export default function modelsCommand(): Command {
  const cmd = new Command('models')
    .summary('list model names')
    .description(
      "List model names matching shell-style wildcards, in timm's order. With --pretrained, only names with weights, " +
        'as arch.tag (like timm.list_models(pretrained=True)).',
    )
    .argument('[pattern...]', "wildcard patterns, e.g. 'tf_efficientnet_b*' (quote them so the shell does not expand them)")
    .option('--pretrained', 'only models with pretrained weights, listed with their tags')
    .option('--tags', 'list arch.tag names even without --pretrained');
  addJsonOption(cmd);
  return cmd.action((patterns: string[], o: ModelsOptions) => {
    const names = listModels(patterns, { pretrained: o.pretrained === true, includeTags: o.tags === true || o.pretrained === true });
    if (o.json) printJson(names);
    else if (names.length > 0) process.stdout.write(`${names.join('\n')}\n`);
    // Not an error (timm returns []), but say so rather than print nothing.
    if (names.length === 0) process.stderr.write(`no model matches ${patterns.map((p) => `'${p}'`).join(' ')}\n`);
  });
}
