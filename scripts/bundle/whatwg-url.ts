/**
 * Stands in for `whatwg-url` in the function bundles (scripts/build.ts aliases it here). Only
 * node-fetch 2 imports it (under the Google clients' gaxios and client-node), and only as a
 * fallback: `const URL = Url.URL || whatwgUrl.URL`, where `Url` is Node's `url` module, whose
 * `URL` (the WHATWG URL Standard class) every supported Node has. The package itself is not
 * small: loading it builds tr46's Unicode mapping table (~0.25 MiB of JSON) on every cold start
 * that loads Cloud Storage. This module hands node-fetch the same classes Node already has.
 */
export const URL: typeof globalThis.URL = globalThis.URL;
export const URLSearchParams: typeof globalThis.URLSearchParams = globalThis.URLSearchParams;

export default { URL, URLSearchParams };
