// A compliance report as files for the provincial office: CSV (UTF-8 with BOM, so Excel shows the
// Vietnamese names) and XLSX (exceljs). Column titles are Vietnamese first, the English key after.
import { stringify } from 'csv-stringify/sync';
import { hanoiMinute } from '../scheduling/recurrence.ts';
import type { ComplianceReport, Tally } from './tally.ts';

type Value = string | number | null;
/** Each column: its title, its value on a line, and whether it is a rate (shown as a percentage). */
const COLUMNS: { title: string; value: (t: Tally) => Value; rate?: true }[] = [
  { title: 'Lịch phát (scheduled)', value: (t) => t.scheduled },
  { title: 'Phát đủ đúng giờ (aired)', value: (t) => t.aired },
  { title: 'Phát muộn (late)', value: (t) => t.late },
  { title: 'Phát không đủ (partial)', value: (t) => t.partial },
  { title: 'Không phát (missed)', value: (t) => t.missed },
  { title: 'Bỏ qua theo quy định (skipped)', value: (t) => t.skipped },
  { title: 'Chưa đến giờ (pending)', value: (t) => t.pending },
  { title: 'Số đài (stations)', value: (t) => t.stations },
  { title: 'Tỷ lệ phát đủ (compliance rate)', value: (t) => t.complianceRate, rate: true },
  { title: 'Tỷ lệ đúng giờ (on-time rate)', value: (t) => t.onTimeRate, rate: true },
  { title: 'Tỷ lệ lượt phát đúng giờ ±2 s (coverage)', value: (t) => t.coverageRate, rate: true },
  { title: 'Độ phủ trung bình mỗi đài (station coverage)', value: (t) => t.stationCoverageRate, rate: true },
  { title: 'Đài phát đủ mọi lượt ±2 s (stations fully covered)', value: (t) => t.stationsFullyCovered },
  { title: 'Khẩn cấp: tỷ lệ phát đủ (emergency compliance)', value: (t) => t.emergency.complianceRate, rate: true },
  { title: 'Thường xuyên: tỷ lệ phát đủ (regular compliance)', value: (t) => t.regular.complianceRate, rate: true },
  { title: 'Số phút đã phát (aired minutes)', value: (t) => t.airedMinutes },
  { title: 'Giới hạn phút/ngày (limit per day)', value: (t) => t.limitMinutesPerDay },
  { title: 'Ngày-đài vượt giới hạn (over-limit days)', value: (t) => t.overLimitDays },
  { title: 'Số phút cao nhất/ngày (max minutes a day)', value: (t) => t.maxDayMinutes },
  { title: 'Thời gian trực tuyến (uptime)', value: (t) => t.uptimeRate, rate: true },
];

const GROUP_TITLE = { unit: 'Đơn vị (unit)', station: 'Đài (station)', media: 'Bản tin (item)' } as const;

function table(report: ComplianceReport): Value[][] {
  const header = ['Mã (code)', GROUP_TITLE[report.groupBy], ...COLUMNS.map((c) => c.title)];
  const row = (key: string, name: string, t: Tally) => [key, name, ...COLUMNS.map((c) => c.value(t))];
  return [header, ...report.groups.map((g) => row(g.key, g.name, g)), row('', 'Tổng cộng (total)', report.total)];
}

/** "Huyện Sóc Sơn (016)": a unit is shown by its name, with its code. */
export const unitLabel = (report: ComplianceReport) =>
  report.unit ? `${report.unitName ?? report.unit} (${report.unit})` : 'toàn bộ (all)';

export function reportCsv(report: ComplianceReport): string {
  return `\uFEFF${stringify(table(report))}`;
}

export async function reportXlsx(report: ComplianceReport): Promise<Buffer> {
  // Loaded with the first workbook: exceljs is the largest library the server has (~9 MB of heap).
  const { default: ExcelJS } = await import('exceljs');
  const book = new ExcelJS.Workbook();
  book.creator = 'loaphuong';
  const sheet = book.addWorksheet('Báo cáo (report)');
  sheet.addRow([`Báo cáo phát thanh ${unitLabel(report)}`, `${hanoiMinute(report.from)} – ${hanoiMinute(report.to)} (giờ Hà Nội)`]);
  const [header, ...rows] = table(report);
  const head = sheet.addRow(header as string[]);
  head.font = { bold: true };
  for (const r of rows) sheet.addRow(r);
  sheet.columns.forEach((c, i) => {
    c.width = i < 2 ? 28 : 16;
  });
  for (const [i, c] of COLUMNS.entries()) if (c.rate) sheet.getColumn(3 + i).numFmt = '0.00%';
  return Buffer.from(await book.xlsx.writeBuffer());
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** Green from 95 %, amber from 80 %, red below; grey when nothing was due. */
export const rateColour = (r: number | null) => (r === null ? '#bbb' : r >= 0.95 ? '#2e7d32' : r >= 0.8 ? '#f9a825' : '#c62828');
export const pct = (r: number | null) => (r === null ? '—' : `${(r * 100).toFixed(1)} %`);

/**
 * A print-ready page (A4 landscape, no scripts, no external assets): the table and a bar chart of each
 * group's compliance rate, drawn as inline SVG so it prints and archives as it is.
 */
export function reportHtml(report: ComplianceReport): string {
  const [header, ...rows] = table(report);
  const bars = report.groups.slice(0, 60);
  const barH = 16;
  const chart = `<svg width="760" height="${bars.length * (barH + 4) + 24}" role="img" aria-label="Tỷ lệ phát đủ theo nhóm">
${bars
  .map((g, i) => {
    const y = i * (barH + 4);
    const w = Math.round((g.complianceRate ?? 0) * 500);
    const fill = rateColour(g.complianceRate);
    return `<text x="0" y="${y + 12}" font-size="11">${esc(g.name || g.key).slice(0, 34)}</text><rect x="220" y="${y}" width="${w}" height="${barH}" fill="${fill}"/><text x="${226 + w}" y="${y + 12}" font-size="11">${pct(g.complianceRate)}</text>`;
  })
  .join('\n')}
<line x1="220" x2="220" y1="0" y2="${bars.length * (barH + 4)}" stroke="#333"/><line x1="720" x2="720" y1="0" y2="${bars.length * (barH + 4)}" stroke="#999" stroke-dasharray="3"/>
</svg>`;
  const rates = new Set(COLUMNS.flatMap((c, i) => (c.rate ? [2 + i] : [])));
  const cell = (v: Value, i: number) => `<td>${rates.has(i) ? pct(v as number | null) : esc(String(v ?? ''))}</td>`;
  return `<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Báo cáo phát thanh cơ sở</title>
<style>
@page { size: A4 landscape; margin: 12mm }
body { font: 12px/1.4 system-ui, sans-serif; color: #111 }
table { border-collapse: collapse; width: 100% } th, td { border: 1px solid #999; padding: 2px 4px; text-align: right }
th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left } tr:last-child { font-weight: bold } thead { display: table-header-group }
</style></head><body>
<h1>Báo cáo phát thanh cơ sở <small>(broadcast compliance report)</small></h1>
<p>Đơn vị (unit): <b>${esc(unitLabel(report))}</b> · Từ (from) ${hanoiMinute(report.from)} đến (to) ${hanoiMinute(report.to)} (giờ Hà Nội) ·
Tỷ lệ phát đủ (compliance): <b>${pct(report.total.complianceRate)}</b> · Đúng giờ (on time): <b>${pct(report.total.onTimeRate)}</b></p>
<h2>Tỷ lệ phát đủ (compliance rate)</h2>
${chart}
<h2>Chi tiết (details)</h2>
<table><thead><tr>${(header as string[]).map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>
<tbody>${rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('\n')}</tbody></table>
</body></html>
`;
}

export const STATUS_VI: Record<string, string> = {
  pending: 'Chưa đến giờ',
  playing: 'Đang phát',
  aired: 'Phát đủ đúng giờ',
  late: 'Phát muộn',
  partial: 'Phát không đủ',
  missed: 'Không phát',
  skipped: 'Bỏ qua',
};
export const REASON_VI: Record<string, string> = {
  preempted: 'Bị bản tin ưu tiên hơn ngắt',
  policy: 'Trái quy định (giờ yên tĩnh, khung giờ)',
  stale: 'Bản tin hết hạn',
  offline: 'Trạm mất kết nối',
  'device-fault': 'Lỗi thiết bị',
  'file-missing': 'Thiếu tệp âm thanh',
  cancelled: 'Đã hủy',
  silent: 'Phát ra im lặng',
};

export interface AsRunLine {
  station: string;
  stationName: string;
  unitCode: string | null;
  unitName: string | null;
  title: string;
  priority: string;
  startsAt: Date;
  startedAt: Date | null;
  expectedMs: number;
  playedMs: number | null;
  status: string;
  reason?: string;
  lateMs?: number;
  deviceReason?: string;
}

/** The as-run log as CSV (UTF-8 with BOM): one airing a line, Hanoi times, status and reason in Vietnamese and as codes. */
export function asRunCsv(rows: AsRunLine[]): string {
  const header = [
    'Đài (station)',
    'Tên đài (name)',
    'Đơn vị (unit)',
    'Bản tin (item)',
    'Mức ưu tiên (priority)',
    'Giờ phát theo lịch (scheduled, Hanoi)',
    'Giờ bắt đầu thực tế (started, Hanoi)',
    'Muộn (ms) (late)',
    'Thời lượng (ms) (expected)',
    'Đã phát (ms) (played)',
    'Trạng thái (status)',
    'Mã trạng thái (status code)',
    'Lý do (reason)',
    'Mã lý do (reason code)',
    'Mã của thiết bị (device code)',
  ];
  const lines = rows.map((r) => [
    r.station,
    r.stationName,
    r.unitName ? `${r.unitName} (${r.unitCode})` : '',
    r.title,
    r.priority,
    hanoiMinute(r.startsAt),
    r.startedAt ? hanoiMinute(r.startedAt) : '',
    r.lateMs ?? '',
    r.expectedMs,
    r.playedMs ?? '',
    STATUS_VI[r.status] ?? r.status,
    r.status,
    r.reason ? (REASON_VI[r.reason] ?? r.reason) : '',
    r.reason ?? '',
    r.deviceReason ?? '',
  ]);
  return `\uFEFF${stringify([header, ...lines])}`;
}
