/**
 * The apiserver's TLS identity, as a GKE control plane has one: a cluster CA (whose PEM, base64,
 * is `masterAuth.clusterCaCertificate`) and a serving certificate it signed for 127.0.0.1 and
 * localhost. Keys come from node:crypto; node-forge only assembles and signs the X.509 bodies.
 * With a `dir` both are kept as PEM files, so a restarted server keeps its CA and clients that
 * trusted it keep working.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';

export interface TlsIdentity {
  caCertificatePem: string;
  certificatePem: string;
  keyPem: string;
}

const FILES = { ca: 'ca.crt', cert: 'apiserver.crt', key: 'apiserver.key', caKey: 'ca.key' } as const;
const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

function rsaKeys(): { publicKey: forge.pki.PublicKey; privateKey: forge.pki.rsa.PrivateKey; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem);
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), pem };
}

function serial(): string {
  // Positive (top bit clear) 16-byte serial, as RFC 5280 asks.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

function newIdentity(nowMs: number): TlsIdentity & { caKeyPem: string } {
  const notBefore = new Date(nowMs - 60_000);
  const notAfter = new Date(nowMs + TEN_YEARS_MS);

  const caKeys = rsaKeys();
  const ca = forge.pki.createCertificate();
  ca.publicKey = caKeys.publicKey;
  ca.serialNumber = serial();
  ca.validity.notBefore = notBefore;
  ca.validity.notAfter = notAfter;
  const caName = [{ name: 'commonName', value: 'inferplane-local-cluster-ca' }];
  ca.setSubject(caName);
  ca.setIssuer(caName);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const keys = rsaKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject([{ name: 'commonName', value: 'kube-apiserver' }]);
  cert.setIssuer(caName);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: 'localhost' },
        { type: 2, value: 'kubernetes' },
        { type: 2, value: 'kubernetes.default.svc' },
        { type: 7, ip: '127.0.0.1' },
      ],
    },
  ]);
  cert.sign(caKeys.privateKey, forge.md.sha256.create());

  return {
    caCertificatePem: forge.pki.certificateToPem(ca),
    certificatePem: forge.pki.certificateToPem(cert),
    keyPem: keys.pem,
    caKeyPem: caKeys.pem,
  };
}

/** Loads the identity kept in `dir`, or makes a new one (and keeps it there when `dir` is given). */
export function tlsIdentity(dir: string | undefined, nowMs: number): TlsIdentity {
  if (dir) {
    const paths = {
      ca: join(dir, FILES.ca),
      cert: join(dir, FILES.cert),
      key: join(dir, FILES.key),
    };
    if (existsSync(paths.ca) && existsSync(paths.cert) && existsSync(paths.key)) {
      return {
        caCertificatePem: readFileSync(paths.ca, 'utf8'),
        certificatePem: readFileSync(paths.cert, 'utf8'),
        keyPem: readFileSync(paths.key, 'utf8'),
      };
    }
  }
  const identity = newIdentity(nowMs);
  if (dir) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, FILES.ca), identity.caCertificatePem);
    writeFileSync(join(dir, FILES.cert), identity.certificatePem);
    writeFileSync(join(dir, FILES.key), identity.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, FILES.caKey), identity.caKeyPem, { mode: 0o600 });
  }
  const { caKeyPem: _unused, ...rest } = identity;
  return rest;
}
