// CAP 1.2 alerts from upstream warning systems become loaphuong alerts, and every alert can be read back
// as CAP. Mapping: status Actual → actual, Exercise → exercise, Test and System → test (Draft is refused);
// msgType Alert raises, Update corrects and Cancel cancels the alert its <references> name; the Vietnamese
// info (else the first) is spoken (headline, description, instruction); expires → validUntil (a day at
// most); severity Extreme airs 3 times, Severe twice, the rest once; urgency Immediate repeats a minute
// apart, others five. A signature by a trusted sender counts as the second person's confirmation; a unit
// whose policy requires signatures (capSignatureRequired) refuses unsigned alerts for its area.
import { type CapAlert, capArea, capInfo, capTime, readCap, verifyCapSignature, writeCap } from './cap.ts';
import type { Area } from './emergency-area.ts';
import type { AlertStatus } from './emergency-content.ts';
import type { EmergencyService } from './emergency-service.ts';
import { badRequest, forbidden } from './errors.ts';
import type { AuthUser } from './user-service.ts';

const STATUS: Record<CapAlert['status'], AlertStatus | null> = {
  Actual: 'actual',
  Exercise: 'exercise',
  Test: 'test',
  System: 'test',
  Draft: null,
};
const PLAYS: Record<string, number> = { Extreme: 3, Severe: 2 };
const MAX_VALID_MS = 86_400_000;

export class CapIntake {
  constructor(
    private readonly deps: {
      emergencies: EmergencyService;
      /** Trusted senders: CAP `sender` → PEM certificate or public key. */
      senders: Record<string, string>;
      /** Our own CAP sender id, in what we export. */
      sender: string;
      now: () => Date;
    },
  ) {}

  /** A CAP 1.2 document posted by an upstream system: raises, corrects or cancels an alert. */
  async receive(user: AuthUser, xml: string) {
    const { emergencies, senders, now } = this.deps;
    const { alert, signed } = readCap(xml);
    const status = STATUS[alert.status];
    if (!status) throw badRequest('CAP_DRAFT', 'a Draft is not aired');
    if (alert.msgType === 'Ack' || alert.msgType === 'Error') throw badRequest('CAP_NOT_AN_ALERT', `a CAP ${alert.msgType} raises nothing`);
    if (signed) {
      const pem = senders[alert.sender];
      if (!pem) throw forbidden('CAP_UNKNOWN_SENDER', `no key is configured for CAP sender ${alert.sender}`);
      if (!verifyCapSignature(xml, pem))
        throw forbidden('CAP_BAD_SIGNATURE', `the signature is not ${alert.sender}'s, or does not cover the whole alert`);
    }
    if (alert.msgType === 'Update' || alert.msgType === 'Cancel') {
      const refs = (alert.references ?? '')
        .trim()
        .split(/\s+/)
        .map((r) => r.split(','))
        .map(([sender = '', identifier = '']) => ({ sender, identifier }));
      const id = await emergencies.byCapReference(user, refs);
      if (alert.msgType === 'Cancel') return emergencies.cancel(user, id);
      const info = capInfo(alert);
      return emergencies.update(user, id, info ? { headline: headlineOf(alert, info), content: { text: spoken(info) } } : {});
    }
    const info = capInfo(alert);
    if (!info) throw badRequest('INVALID_CAP', 'an Alert needs an <info>');
    const area = toArea(capArea(info));
    if (!signed && (await emergencies.areaPolicy(user, area)).capSignatureRequired)
      throw forbidden('CAP_SIGNATURE_REQUIRED', 'this area takes signed CAP alerts only');
    const expires = info.expires ? new Date(info.expires) : undefined;
    const at = now();
    const validUntil = expires && expires.getTime() - at.getTime() > MAX_VALID_MS ? new Date(at.getTime() + MAX_VALID_MS) : expires;
    return emergencies.create(
      user,
      {
        status,
        headline: headlineOf(alert, info),
        area,
        content: { text: spoken(info) },
        repeat: { count: PLAYS[info.severity] ?? 1, intervalS: info.urgency === 'Immediate' ? 60 : 300 },
        ...(validUntil ? { validUntil } : {}),
      },
      { cap: { sender: alert.sender, identifier: alert.identifier, signed } },
    );
  }

  /** An alert as CAP 1.2 for upstream systems. */
  async export(user: AuthUser, id: string): Promise<string> {
    const a = await this.deps.emergencies.get(user, id);
    const area = a.area as Area;
    return writeCap({
      id: a.id,
      sender: this.deps.sender,
      status: a.status,
      msgType: a.state === 'cancelled' ? 'Cancel' : a.version > 1 ? 'Update' : 'Alert',
      ...(a.state === 'cancelled' || a.version > 1 ? { references: `${this.deps.sender},${a.id},${capTime(a.createdAt)}` } : {}),
      sent: a.cancelledAt ?? a.updatedAt ?? a.createdAt,
      headline: a.headline,
      text: a.text,
      expires: a.validUntil,
      units: area.units ?? [],
      stations: area.stations ?? [],
      ...(area.polygon ? { polygon: area.polygon } : {}),
      ...(area.circle ? { circle: area.circle } : {}),
    });
  }
}

function headlineOf(alert: CapAlert, info: NonNullable<ReturnType<typeof capInfo>>): string {
  return (info.headline ?? info.event ?? alert.identifier).slice(0, 200);
}

/** What the loudspeakers say: the headline, the description and the instruction, in that order. */
function spoken(info: NonNullable<ReturnType<typeof capInfo>>): string {
  return [info.headline, info.description, info.instruction]
    .map((s) => s?.trim() ?? '')
    .filter(Boolean)
    .map((s) => (/[.!?…]$/.test(s) ? s : `${s}.`))
    .join(' ')
    .slice(0, 5000);
}

function toArea(a: ReturnType<typeof capArea>): Area {
  if (!a.units.length && !a.stations.length && !a.polygons.length && !a.circles.length)
    throw badRequest('CAP_NO_AREA', 'the alert names no area loaphuong knows: a VN-UNIT or VN-STATION geocode, a polygon or a circle');
  return {
    ...(a.units.length ? { units: a.units } : {}),
    ...(a.stations.length ? { stations: a.stations } : {}),
    ...(a.polygons.length ? { polygons: a.polygons } : {}),
    ...(a.circles.length ? { circles: a.circles } : {}),
  };
}
