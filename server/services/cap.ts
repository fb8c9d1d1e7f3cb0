// OASIS CAP 1.2 (Common Alerting Protocol, 2010), in and out. In: a size-limited document, refused at
// once if it carries a DTD (no entity of any kind is ever expanded: no XXE, no billion laughs), checked for
// well-formedness, its root in the CAP 1.2 namespace, then validated against the rules of the standard's
// §3 (written here as a schema: required elements, their value lists, dateTime with a zone offset, polygon
// and circle syntax); an enveloped XML signature (§3.3.4, XML-DSig) verified with the sender's key (xml-crypto).
// Out: an alert as a CAP 1.2 document for upstream systems.
import { DOMParser } from '@xmldom/xmldom';
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { SignedXml } from 'xml-crypto';
import { select1 } from 'xpath';
import { z } from 'zod';
import type { Point } from './emergency-area.ts';
import { badRequest, DomainError } from './errors.ts';

export const CAP_NS = 'urn:oasis:names:tc:emergency:cap:1.2';
const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
/** A CAP alert with its audio references stays small; this is generous. */
export const CAP_MAX_BYTES = 256 * 1024;

/** CAP §3.3.2: "YYYY-MM-DDThh:mm:ssXzh:zm", the zone always an offset ("-00:00" for UTC, never "Z"). */
const capDateTime = z
  .string()
  .regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$/, 'a CAP dateTime with a zone offset, e.g. 2026-12-05T14:00:00+07:00');
/** §3.3.3 polygon: at least four "lat,lon" pairs, the first and the last the same. */
const polygon = z
  .string()
  .transform((s) =>
    s
      .trim()
      .split(/\s+/)
      .map((p) => p.split(',').map(Number)),
  )
  .refine(
    (pts) => pts.length >= 4 && pts.every((p) => p.length === 2 && p.every(Number.isFinite)),
    'a polygon is 4 or more "lat,lon" pairs',
  )
  .refine((pts) => pts[0]?.join() === pts.at(-1)?.join(), 'a polygon ends where it begins');
/** §3.3.3 circle: "lat,lon radius" with the radius in km. */
const circle = z
  .string()
  .regex(/^\s*-?\d+(\.\d+)?,\s*-?\d+(\.\d+)?\s+\d+(\.\d+)?\s*$/, 'a circle is "lat,lon radius-km"')
  .transform((s) => {
    const [centre, radius] = s.trim().split(/\s+/) as [string, string];
    const [lat, lon] = centre.split(',').map(Number) as [number, number];
    return { lat, lon, radiusM: Number(radius) * 1000 };
  });
const many = <T extends z.ZodType>(t: T) => z.preprocess((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]), z.array(t));
const text = z.coerce.string();
const named = z.object({ valueName: text, value: text });

const Area = z.object({
  areaDesc: text,
  polygon: many(polygon),
  circle: many(circle),
  geocode: many(named),
});
const Info = z.object({
  language: text.default('en-US'),
  category: many(
    z.enum(['Geo', 'Met', 'Safety', 'Security', 'Rescue', 'Fire', 'Health', 'Env', 'Transport', 'Infra', 'CBRNE', 'Other']),
  ).refine((c) => c.length > 0, 'info needs a category'),
  event: text,
  urgency: z.enum(['Immediate', 'Expected', 'Future', 'Past', 'Unknown']),
  severity: z.enum(['Extreme', 'Severe', 'Moderate', 'Minor', 'Unknown']),
  certainty: z.enum(['Observed', 'Likely', 'Possible', 'Unlikely', 'Unknown']),
  headline: text.optional(),
  description: text.optional(),
  instruction: text.optional(),
  expires: capDateTime.optional(),
  area: many(Area),
});
export const CapAlert = z.object({
  identifier: text.refine((s) => s.length > 0 && !/[\s,<&]/.test(s), 'identifier has no spaces, commas, < or &'),
  sender: text.refine((s) => s.length > 0 && !/[\s,<&]/.test(s), 'sender has no spaces, commas, < or &'),
  sent: capDateTime,
  status: z.enum(['Actual', 'Exercise', 'System', 'Test', 'Draft']),
  msgType: z.enum(['Alert', 'Update', 'Cancel', 'Ack', 'Error']),
  scope: z.enum(['Public', 'Restricted', 'Private']),
  references: text.optional(),
  info: many(Info),
});
export type CapAlert = z.infer<typeof CapAlert>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  parseTagValue: false,
  processEntities: false,
  trimValues: true,
});

/** A CAP document read and checked: the alert, and whether it carried a signature. Throws DomainError with a stable code. */
export function readCap(xml: string): { alert: CapAlert; signed: boolean } {
  if (Buffer.byteLength(xml) > CAP_MAX_BYTES)
    throw new DomainError('too-large', 'CAP_TOO_LARGE', `a CAP alert is at most ${CAP_MAX_BYTES} bytes`);
  // No DTD at all: CAP has none, and a DTD is how entities (external or exponential) get in.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw badRequest('XML_DTD_REFUSED', 'a CAP alert carries no DOCTYPE or entity declaration');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw badRequest('MALFORMED_XML', `line ${valid.err.line}: ${valid.err.msg}`);
  const element = new DOMParser().parseFromString(xml, 'text/xml').documentElement;
  if (element?.localName !== 'alert') throw badRequest('NOT_CAP', 'the root element is not <alert>');
  if (element.namespaceURI !== CAP_NS) throw badRequest('CAP_NAMESPACE', `the alert is not in the CAP 1.2 namespace ${CAP_NS}`);
  const root = (parser.parse(xml) as Record<string, Record<string, unknown>>).alert ?? {};
  const parsed = CapAlert.safeParse(root);
  if (!parsed.success)
    throw badRequest(
      'INVALID_CAP',
      parsed.error.issues
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; ')
        .slice(0, 1000),
    );
  const alert = parsed.data;
  if ((alert.msgType === 'Update' || alert.msgType === 'Cancel') && !alert.references)
    throw badRequest('INVALID_CAP', `a ${alert.msgType} names the alert it refers to in <references>`);
  return { alert, signed: 'Signature' in root };
}

/**
 * Verifies the enveloped signature against the sender's key (PEM certificate or public key). It must
 * sign the whole alert (a reference to the document), so no unsigned part can be read as signed.
 */
export function verifyCapSignature(xml: string, pem: string): boolean {
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const signature = select1(`//*[local-name(.)='Signature' and namespace-uri(.)='${DSIG_NS}']`, doc as unknown as Node);
  if (!signature) return false;
  const sig = new SignedXml({ publicCert: pem, getCertFromKeyInfo: () => null });
  sig.loadSignature(signature as unknown as Node);
  try {
    if (!sig.checkSignature(xml)) return false;
  } catch {
    return false;
  }
  const refs = sig.getReferences();
  return refs.length === 1 && (refs[0]?.uri === '' || refs[0]?.uri === undefined);
}

/** The info block to act on: the Vietnamese one, else the first. */
export function capInfo(alert: CapAlert) {
  return alert.info.find((i) => i.language.toLowerCase().startsWith('vi')) ?? alert.info[0];
}

/** CAP areas as loaphuong's: geocodes naming units (VN-UNIT, the national code) or stations (VN-STATION), polygons, circles. */
export function capArea(info: NonNullable<ReturnType<typeof capInfo>>) {
  const units: string[] = [];
  const stations: string[] = [];
  const polygons: Point[][] = [];
  const circles: { lat: number; lon: number; radiusM: number }[] = [];
  for (const a of info.area) {
    for (const g of a.geocode) {
      if (g.valueName === 'VN-UNIT') units.push(g.value);
      else if (g.valueName === 'VN-STATION') stations.push(g.value);
    }
    polygons.push(...a.polygon.map((p) => p as Point[]));
    circles.push(...a.circle);
  }
  return { units, stations, polygons, circles };
}

/** An instant as CAP writes it, in Hanoi time: 2026-12-05T14:00:00+07:00. */
export function capTime(d: Date): string {
  return `${new Date(d.getTime() + 7 * 3600_000).toISOString().slice(0, 19)}+07:00`;
}

/** One alert as CAP 1.2: our id and sender, its status, the words, the area as geocodes and shapes. */
export function writeCap(a: {
  id: string;
  sender: string;
  status: string;
  msgType: 'Alert' | 'Update' | 'Cancel';
  references?: string;
  sent: Date;
  headline: string;
  text: string;
  expires: Date;
  units: string[];
  stations: string[];
  polygon?: Point[];
  circle?: { lat: number; lon: number; radiusM: number };
}): string {
  const at = capTime;
  const status = { actual: 'Actual', exercise: 'Exercise', test: 'Test' }[a.status] ?? 'Test';
  const alert = {
    '@xmlns': CAP_NS,
    identifier: a.id,
    sender: a.sender,
    sent: at(a.sent),
    status,
    msgType: a.msgType,
    scope: 'Public',
    ...(a.references ? { references: a.references } : {}),
    info: {
      language: 'vi-VN',
      category: 'Safety',
      event: a.headline,
      urgency: 'Immediate',
      severity: 'Severe',
      certainty: 'Observed',
      expires: at(a.expires),
      headline: a.headline,
      ...(a.text ? { instruction: a.text } : {}),
      area: {
        areaDesc: a.headline,
        ...(a.polygon ? { polygon: [...a.polygon, a.polygon[0]].map((p) => p?.join(',')).join(' ') } : {}),
        ...(a.circle ? { circle: `${a.circle.lat},${a.circle.lon} ${a.circle.radiusM / 1000}` } : {}),
        geocode: [
          ...a.units.map((value) => ({ valueName: 'VN-UNIT', value })),
          ...a.stations.map((value) => ({ valueName: 'VN-STATION', value })),
        ],
      },
    },
  };
  const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@', format: true, suppressEmptyNode: true });
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ alert }) as string}`;
}
