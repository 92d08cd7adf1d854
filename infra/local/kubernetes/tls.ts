/**
 * The apiserver's TLS identity, as a GKE control plane has one: a cluster CA (whose PEM, base64,
 * is `masterAuth.clusterCaCertificate`) and a serving certificate it signed for 127.0.0.1 and
 * localhost. Keys are ECDSA P-256 from node:crypto and node:crypto signs; node-forge only encodes
 * the X.509 structures as DER (node has no certificate builder). P-256 keeps key generation to
 * milliseconds and handshakes cheap, where RSA 2048 took about a second per server.
 * With a `dir` both are kept as PEM files, so a restarted server keeps its CA and clients that
 * trusted it keep working.
 */
import { generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
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
const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;
const U = asn1.Class.UNIVERSAL;
const CTX = asn1.Class.CONTEXT_SPECIFIC;
const T = asn1.Type;

const sequence = (items: Asn1[]): Asn1 => asn1.create(U, T.SEQUENCE, true, items);
const oid = (id: string): Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(id).getBytes());
const TRUE = (): Asn1 => asn1.create(U, T.BOOLEAN, false, '\xff');
const toDer = (a: Asn1): Buffer => Buffer.from(asn1.toDer(a).getBytes(), 'binary');
const fromDer = (b: Buffer): Asn1 => asn1.fromDer(forge.util.createBuffer(b.toString('binary')));

/** X.509 Name with one commonName. */
function distinguishedName(commonName: string): Asn1 {
  const attribute = sequence([
    oid('2.5.4.3'),
    asn1.create(U, T.UTF8, false, forge.util.encodeUtf8(commonName)),
  ]);
  return sequence([asn1.create(U, T.SET, true, [attribute])]);
}

function extension(id: string, critical: boolean, value: Asn1): Asn1 {
  return sequence([
    oid(id),
    ...(critical ? [TRUE()] : []),
    asn1.create(U, T.OCTETSTRING, false, asn1.toDer(value).getBytes()),
  ]);
}

/** keyUsage as a DER BIT STRING: the first content byte counts the unused trailing bits. */
function keyUsage(bits: string): Asn1 {
  return asn1.create(U, T.BITSTRING, false, bits);
}

interface CertificateSpec {
  subject: string;
  issuer: string;
  publicKey: KeyObject;
  signingKey: KeyObject;
  ca: boolean;
  dnsNames?: string[];
  ipv4?: string[];
  nowMs: number;
}

/**
 * A 16-byte certificate serial whose DER INTEGER encoding is minimal and positive (RFC 5280):
 * the first byte is 0x01..0x7f. Only clearing the top bit left a leading 0x00 now and then (about
 * one serial in 256), a padded INTEGER that OpenSSL refuses ("illegal padding") when loading it.
 */
export function serialNumber(bytes: Buffer = randomBytes(16)): Buffer {
  const serial = Buffer.from(bytes);
  serial[0] = serial[0]! & 0x7f || 0x01;
  return serial;
}

function certificatePem(spec: CertificateSpec): string {
  const serial = serialNumber();
  const extensions = [
    extension('2.5.29.19', true, sequence(spec.ca ? [TRUE()] : [])), // basicConstraints
    // CA: digitalSignature, keyCertSign, cRLSign; server: digitalSignature
    extension('2.5.29.15', true, keyUsage(spec.ca ? '\x01\x86' : '\x07\x80')),
  ];
  if (!spec.ca) {
    const names = [
      ...(spec.dnsNames ?? []).map((d) => asn1.create(CTX, 2, false, d)),
      ...(spec.ipv4 ?? []).map((ip) =>
        asn1.create(CTX, 7, false, String.fromCharCode(...ip.split('.').map(Number))),
      ),
    ];
    extensions.push(extension('2.5.29.17', false, sequence(names))); // subjectAltName
    extensions.push(extension('2.5.29.37', false, sequence([oid('1.3.6.1.5.5.7.3.1')]))); // serverAuth
  }
  const tbs = sequence([
    asn1.create(CTX, 0, true, [asn1.create(U, T.INTEGER, false, '\x02')]), // v3
    asn1.create(U, T.INTEGER, false, serial.toString('binary')),
    sequence([oid(ECDSA_WITH_SHA256)]),
    distinguishedName(spec.issuer),
    sequence([
      asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(new Date(spec.nowMs - 60_000))),
      asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(new Date(spec.nowMs + TEN_YEARS_MS))),
    ]),
    distinguishedName(spec.subject),
    fromDer(spec.publicKey.export({ type: 'spki', format: 'der' })),
    asn1.create(CTX, 3, true, [sequence(extensions)]),
  ]);
  const signature = sign('sha256', toDer(tbs), spec.signingKey); // DER ECDSA-Sig-Value
  const certificate = sequence([
    tbs,
    sequence([oid(ECDSA_WITH_SHA256)]),
    asn1.create(U, T.BITSTRING, false, `\x00${signature.toString('binary')}`),
  ]);
  const body = toDer(certificate).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

function newIdentity(nowMs: number): TlsIdentity & { caKeyPem: string } {
  const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const server = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caName = 'inferplane-local-cluster-ca';
  return {
    caCertificatePem: certificatePem({
      subject: caName,
      issuer: caName,
      publicKey: ca.publicKey,
      signingKey: ca.privateKey,
      ca: true,
      nowMs,
    }),
    certificatePem: certificatePem({
      subject: 'kube-apiserver',
      issuer: caName,
      publicKey: server.publicKey,
      signingKey: ca.privateKey,
      ca: false,
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
      ipv4: ['127.0.0.1'],
      nowMs,
    }),
    keyPem: server.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    caKeyPem: ca.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** Loads the identity kept in `dir`, or makes a new one (and keeps it there when `dir` is given). */
export function tlsIdentity(dir: string | undefined, nowMs: number): TlsIdentity {
  if (dir) {
    const ca = join(dir, FILES.ca);
    const cert = join(dir, FILES.cert);
    const key = join(dir, FILES.key);
    if (existsSync(ca) && existsSync(cert) && existsSync(key)) {
      return {
        caCertificatePem: readFileSync(ca, 'utf8'),
        certificatePem: readFileSync(cert, 'utf8'),
        keyPem: readFileSync(key, 'utf8'),
      };
    }
  }
  const { caKeyPem, ...identity } = newIdentity(nowMs);
  if (dir) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, FILES.ca), identity.caCertificatePem);
    writeFileSync(join(dir, FILES.cert), identity.certificatePem);
    writeFileSync(join(dir, FILES.key), identity.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, FILES.caKey), caKeyPem, { mode: 0o600 });
  }
  return identity;
}
