// A compliance report as a PDF for the provincial office's files: A4 landscape, DejaVu Sans embedded (every
// Vietnamese diacritic, no font needed on the reader's machine), who generated it and when, the period in
// Hanoi time, the same figures, rates over time and table as the console shows, every airing that did not
// air in full with its reason, and a signatory block. pdfkit draws it; nothing is fetched.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { hanoiDay, hanoiMinute } from '../scheduling/recurrence.ts';
import { type AsRunLine, pct, REASON_VI, rateColour, STATUS_VI, unitLabel } from './export.ts';
import type { ComplianceReport, Tally } from './tally.ts';

const FONTS = join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
const REGULAR = join(FONTS, 'DejaVuSans.ttf');
const BOLD = join(FONTS, 'DejaVuSans-Bold.ttf');

/** At most this many non-aired airings are listed; the rest are counted and the as-run CSV has them all. */
export const PDF_MAX_AIRINGS = 500;

export interface PdfContext {
  /** Who asked for the file, and when. */
  generatedBy: string;
  generatedAt: Date;
  /** Airings of the range that did not air in full (missed, partial, skipped), in time order, and how many there are. */
  notAired: AsRunLine[];
  notAiredTotal: number;
}

const GROUP_TITLE = { unit: 'Đơn vị', station: 'Đài', media: 'Bản tin' } as const;
const MARGIN = 36;

/** Columns of the table, as in the console's report and the CSV/XLSX files. */
const COLUMNS: { title: string; width: number; value: (t: Tally) => string }[] = [
  { title: 'Theo lịch', width: 50, value: (t) => String(t.scheduled) },
  { title: 'Phát đủ', width: 46, value: (t) => String(t.aired) },
  { title: 'Muộn', width: 40, value: (t) => String(t.late) },
  { title: 'Không đủ', width: 46, value: (t) => String(t.partial) },
  { title: 'Không phát', width: 50, value: (t) => String(t.missed) },
  { title: 'Bỏ qua', width: 42, value: (t) => String(t.skipped) },
  { title: 'Tỷ lệ phát đủ', width: 58, value: (t) => pct(t.complianceRate) },
  { title: 'Đúng giờ', width: 52, value: (t) => pct(t.onTimeRate) },
  { title: 'Đúng giờ ±2 giây', width: 58, value: (t) => pct(t.coverageRate) },
  { title: 'Trực tuyến', width: 52, value: (t) => pct(t.uptimeRate) },
  { title: 'Phút đã phát', width: 52, value: (t) => t.airedMinutes.toFixed(1) },
  { title: 'Ngày vượt giới hạn', width: 54, value: (t) => String(t.overLimitDays) },
];

export async function reportPdf(report: ComplianceReport, ctx: PdfContext): Promise<Buffer> {
  // Loaded with the first PDF (pdfkit and its font engine: ~5 MB of heap the server need not hold).
  const { default: PDFDocument } = await import('pdfkit');
  const doc = new PDFDocument({
    size: 'A4',
    layout: 'landscape',
    margin: MARGIN,
    bufferPages: true,
    info: {
      Title: `Báo cáo kết quả phát thanh ${unitLabel(report)}`,
      Author: ctx.generatedBy,
      Creator: 'loaphuong',
      CreationDate: ctx.generatedAt,
    },
  });
  doc.registerFont('regular', REGULAR);
  doc.registerFont('bold', BOLD);
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  const width = doc.page.width - 2 * MARGIN;
  const bottom = () => doc.page.height - MARGIN - 20;

  doc.font('bold').fontSize(15).text('BÁO CÁO KẾT QUẢ PHÁT THANH CƠ SỞ', { align: 'center' });
  doc.font('regular').fontSize(9).fillColor('#555').text('Broadcast compliance report', { align: 'center' }).fillColor('#000');
  doc.moveDown(0.6).fontSize(10);
  doc.font('bold').text('Đơn vị: ', { continued: true }).font('regular').text(unitLabel(report));
  doc
    .font('bold')
    .text('Kỳ báo cáo: ', { continued: true })
    .font('regular')
    .text(`${hanoiMinute(report.from)} – ${hanoiMinute(report.to)} (giờ Hà Nội)`);
  doc
    .font('bold')
    .text('Người lập: ', { continued: true })
    .font('regular')
    .text(`${ctx.generatedBy} · lập lúc ${hanoiMinute(ctx.generatedAt)} (giờ Hà Nội)`);
  const t = report.total;
  const due = t.emergency.due + t.regular.due;
  doc.moveDown(0.4);
  doc.text(
    `Tổng cộng: ${t.scheduled} lượt theo lịch, ${due} lượt đến hạn tại ${t.stations} đài; phát đủ ${pct(t.complianceRate)}; ` +
      `đúng giờ ${pct(t.onTimeRate)}; đúng giờ ±2 giây ${pct(t.coverageRate)}; ${t.stationsFullyCovered}/${t.stationsDue} đài phát đủ mọi lượt; ` +
      `trực tuyến ${pct(t.uptimeRate)}.`,
  );
  doc.text(
    `Khẩn cấp: ${t.emergency.aired + t.emergency.late}/${t.emergency.due} lượt phát đủ (${pct(t.emergency.complianceRate)}). ` +
      `Thường xuyên: ${t.regular.aired + t.regular.late}/${t.regular.due} (${pct(t.regular.complianceRate)}). ` +
      `Đã phát ${t.airedMinutes.toFixed(1)} phút; ${t.overLimitDays} ngày-đài vượt giới hạn phút/ngày.`,
  );

  // Rates over time: one bar per day or month, the compliance rate, on a 0–100 % axis.
  doc.moveDown(0.6).font('bold').fontSize(11).text('Tỷ lệ phát đủ theo thời gian');
  const chartTop = doc.y + 4;
  const chartH = 90;
  const axisX = MARGIN + 34;
  const chartW = width - 40;
  doc.font('regular').fontSize(7);
  for (const r of [0, 0.5, 1]) {
    const y = chartTop + chartH - r * chartH;
    doc.text(`${r * 100} %`, MARGIN, y - 4, { width: 30, align: 'right' });
    doc
      .moveTo(axisX, y)
      .lineTo(axisX + chartW, y)
      .lineWidth(0.3)
      .strokeColor(r === 0 ? '#333' : '#bbb')
      .stroke();
  }
  const points = report.series;
  if (points.length === 0) doc.text('Không có lượt phát trong kỳ.', axisX + 8, chartTop + chartH / 2);
  const step = points.length ? chartW / points.length : 0;
  const labelEvery = Math.max(1, Math.ceil(points.length / 14));
  points.forEach((p, i) => {
    const h = (p.complianceRate ?? 0) * chartH;
    const colour = rateColour(p.complianceRate);
    const barW = Math.min(Math.max(step * 0.7, 0.5), 40);
    const x = axisX + i * step + (step - barW) / 2;
    doc
      .rect(x, chartTop + chartH - h, barW, h)
      .fill(colour)
      .fillColor('#000');
    if (points.length <= 31)
      doc.text(pct(p.complianceRate), x - 10, chartTop + chartH - h - 9, { width: barW + 20, align: 'center', lineBreak: false });
    if (i % labelEvery === 0)
      doc.text(p.period, axisX + i * step, chartTop + chartH + 3, { width: Math.max(step * labelEvery, 40), lineBreak: false });
  });
  doc.x = MARGIN;
  doc.y = chartTop + chartH + 18;

  // The table: one line per group, then the total.
  const nameW = width - COLUMNS.reduce((a, c) => a + c.width, 0);
  const row = (cells: string[], bold: boolean) => {
    doc.font(bold ? 'bold' : 'regular').fontSize(8);
    const h =
      Math.max(
        doc.heightOfString(cells[0] ?? '', { width: nameW - 4 }),
        ...cells.slice(1).map((c, i) => doc.heightOfString(c, { width: (COLUMNS[i]?.width ?? 40) - 4 })),
      ) + 4;
    if (doc.y + h > bottom()) {
      doc.addPage();
      header();
    }
    const y = doc.y;
    let x = MARGIN;
    cells.forEach((c, i) => {
      const w = i === 0 ? nameW : (COLUMNS[i - 1]?.width ?? 40);
      doc.text(c, x + 2, y + 2, { width: w - 4, align: i === 0 ? 'left' : 'right' });
      x += w;
    });
    doc
      .moveTo(MARGIN, y + h)
      .lineTo(MARGIN + width, y + h)
      .lineWidth(0.3)
      .strokeColor('#999')
      .stroke();
    doc.x = MARGIN;
    doc.y = y + h;
  };
  const header = () => row([GROUP_TITLE[report.groupBy], ...COLUMNS.map((c) => c.title)], true);
  doc.font('bold').fontSize(11).text(`Chi tiết theo ${GROUP_TITLE[report.groupBy].toLowerCase()}`);
  doc.moveDown(0.2);
  header();
  for (const g of report.groups) row([g.name ? `${g.name} (${g.key})` : g.key, ...COLUMNS.map((c) => c.value(g))], false);
  row(['Tổng cộng', ...COLUMNS.map((c) => c.value(report.total))], true);

  // Why not: every airing that did not air in full, with its reason.
  doc.moveDown(0.8);
  if (doc.y > bottom() - 40) doc.addPage();
  doc.font('bold').fontSize(11).text(`Lượt không phát đủ và lý do (${ctx.notAiredTotal})`, MARGIN);
  doc.font('regular').fontSize(8);
  if (ctx.notAiredTotal === 0) doc.text('Mọi lượt đến hạn đã phát đủ.');
  for (const a of ctx.notAired) {
    if (doc.y > bottom()) doc.addPage();
    const reason = a.reason ? (REASON_VI[a.reason] ?? a.reason) : '';
    doc.text(
      `${hanoiMinute(a.startsAt)} · ${a.stationName} (${a.station}) · ${a.title} · ${STATUS_VI[a.status] ?? a.status}` +
        `${reason ? ` · ${reason}` : ''}${a.deviceReason ? ` (thiết bị: ${a.deviceReason})` : ''}`,
      MARGIN,
      doc.y,
      { width },
    );
  }
  if (ctx.notAiredTotal > ctx.notAired.length)
    doc.text(`… và ${ctx.notAiredTotal - ctx.notAired.length} lượt khác: xem nhật ký phát (CSV) của cùng kỳ.`);

  // The signatory block: place and date, who prepared it, who approves it.
  if (doc.y > bottom() - 110) doc.addPage();
  doc.moveDown(1.5).fontSize(10);
  const [year, month, day] = hanoiDay(ctx.generatedAt).split('-');
  const colW = width / 2;
  const signTop = doc.y;
  doc.font('regular').text(`Hà Nội, ngày ${day} tháng ${month} năm ${year}`, MARGIN + colW, signTop, { width: colW, align: 'center' });
  const signY = doc.y + 6;
  doc.font('bold').text('NGƯỜI LẬP BIỂU', MARGIN, signY, { width: colW, align: 'center' });
  doc.font('bold').text('THỦ TRƯỞNG ĐƠN VỊ', MARGIN + colW, signY, { width: colW, align: 'center' });
  doc.font('regular').fontSize(8).text('(Ký, ghi rõ họ tên)', MARGIN, doc.y, { width: colW, align: 'center' });
  doc.text('(Ký, ghi rõ họ tên, đóng dấu)', MARGIN + colW, signY + 14, { width: colW, align: 'center' });
  doc.fontSize(10).text(ctx.generatedBy, MARGIN, signY + 80, { width: colW, align: 'center' });

  // Page numbers, once every page exists.
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    // The footer sits in the bottom margin, where pdfkit would otherwise start a new page.
    doc.page.margins.bottom = 0;
    doc
      .font('regular')
      .fontSize(7)
      .fillColor('#555')
      .text(
        `loaphuong · ${unitLabel(report)} · ${hanoiMinute(report.from)} – ${hanoiMinute(report.to)} · Trang ${i + 1}/${range.count}`,
        MARGIN,
        doc.page.height - MARGIN - 8,
        { width, align: 'center', lineBreak: false },
      );
  }
  doc.end();
  return done;
}
