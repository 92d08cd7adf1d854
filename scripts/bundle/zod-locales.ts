/**
 * zod 4 re-exports all of its ~50 locales as the `z.locales` namespace, which tree shaking cannot
 * drop: ~360 KiB of a function's ~730 KiB of zod, evaluated at every cold start. The control plane
 * uses only the English messages zod configures by default, so in the function bundles the
 * namespace holds `en` alone (`z.locales.en` still works; other locales are undefined).
 */
import path from 'node:path';
import type { Plugin } from 'esbuild';

const NAMESPACE = 'zod-locales-en';

export const zodEnglishOnly: Plugin = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /node_modules\/zod\/v4\/(core|classic)\//.test(args.importer.replaceAll('\\', '/'))
        ? { path: path.join(path.dirname(args.importer), '../locales/index.js'), namespace: NAMESPACE }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({
      contents: 'export { default as en } from "./en.js";\n',
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};
