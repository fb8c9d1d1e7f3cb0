// A compliance report as files for the provincial office: CSV (UTF-8 with BOM, so Excel shows the
// Vietnamese names) and XLSX (exceljs). Column titles are Vietnamese first, the English key after.
import { stringify } from 'csv-stringify/sync';
import ExcelJS from 'exceljs';
import type { ComplianceReport, Tally } from '../services/as-run-service.ts';

const COLUMNS: { key: keyof Tally; title: string }[] = [
  { key: 'scheduled', title: 'Lịch phát (scheduled)' },
  { key: 'aired', title: 'Phát đủ đúng giờ (aired)' },
  { key: 'late', title: 'Phát muộn (late)' },
  { key: 'partial', title: 'Phát không đủ (partial)' },
  { key: 'missed', title: 'Không phát (missed)' },
  { key: 'skipped', title: 'Bỏ qua theo quy định (skipped)' },
  { key: 'pending', title: 'Chưa đến giờ (pending)' },
  { key: 'stations', title: 'Số đài (stations)' },
  { key: 'complianceRate', title: 'Tỷ lệ phát đủ (compliance rate)' },
  { key: 'onTimeRate', title: 'Tỷ lệ đúng giờ (on-time rate)' },
  { key: 'airedMinutes', title: 'Số phút đã phát (aired minutes)' },
];

const GROUP_TITLE = { unit: 'Đơn vị (unit)', station: 'Đài (station)', media: 'Bản tin (item)' } as const;

function table(report: ComplianceReport): (string | number | null)[][] {
  const header = ['Mã (code)', GROUP_TITLE[report.groupBy], ...COLUMNS.map((c) => c.title)];
  const row = (key: string, name: string, t: Tally) => [key, name, ...COLUMNS.map((c) => t[c.key])];
  return [header, ...report.groups.map((g) => row(g.key, g.name, g)), row('', 'Tổng cộng (total)', report.total)];
}

export function reportCsv(report: ComplianceReport): string {
  return `\uFEFF${stringify(table(report))}`;
}

export async function reportXlsx(report: ComplianceReport): Promise<Buffer> {
  const book = new ExcelJS.Workbook();
  book.creator = 'loaphuong';
  const sheet = book.addWorksheet('Báo cáo (report)');
  sheet.addRow([`Báo cáo phát thanh ${report.unit ?? ''}`.trim(), `${report.from.toISOString()} – ${report.to.toISOString()}`]);
  const [header, ...rows] = table(report);
  const head = sheet.addRow(header as string[]);
  head.font = { bold: true };
  for (const r of rows) sheet.addRow(r);
  sheet.columns.forEach((c, i) => {
    c.width = i < 2 ? 28 : 16;
  });
  for (const col of [11, 12]) sheet.getColumn(col).numFmt = '0.00%';
  return Buffer.from(await book.xlsx.writeBuffer());
}
