/**
 * The one bearer token the local cloud's apiserver accepts (as GKE accepts a Google access token):
 * the control plane sends it as `INFERPLANE_ACCESS_TOKEN`, exactly where production sends ADC's.
 */
export const LOCAL_ACCESS_TOKEN = 'local-token';
