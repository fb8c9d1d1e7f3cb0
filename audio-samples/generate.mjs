// `npm run samples`: regenerates this folder's audio with espeak-ng and ffmpeg (Debian packages).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'lp-samples-'));
const ffmpeg = (...args) => execFileSync('ffmpeg', ['-v', 'error', '-y', ...args]);

const bulletins = {
  'thong-bao-bao-so-3.mp3':
    'Thông báo của Ủy ban nhân dân phường. Do ảnh hưởng của cơn bão số ba, đề nghị bà con chủ động chằng chống nhà cửa, không ra ngoài khi có gió mạnh, và theo dõi thông tin trên hệ thống truyền thanh cơ sở. Xin cảm ơn.',
  'lich-tiem-chung.mp3':
    'Trạm y tế phường thông báo: sáng thứ bảy tuần này, từ bảy giờ đến mười một giờ, tổ chức tiêm chủng mở rộng cho trẻ em dưới năm tuổi. Đề nghị phụ huynh mang theo sổ tiêm chủng.',
};
try {
  for (const [name, text] of Object.entries(bulletins)) {
    const wav = join(tmp, `${name}.wav`);
    execFileSync('espeak-ng', ['-v', 'vi', '-s', '150', '-w', wav, text]);
    ffmpeg('-i', wav, '-ac', '1', '-b:a', '48k', join(here, name));
  }
  // A two-tone chime with an exponential decay, for intros and outros.
  ffmpeg(
    '-f',
    'lavfi',
    '-i',
    'aevalsrc=0.4*sin(2*PI*880*t)*exp(-3*t)+0.3*sin(2*PI*1320*t)*exp(-3*t):s=48000:d=1.5',
    '-ac',
    '1',
    '-c:a',
    'libopus',
    '-b:a',
    '32k',
    join(here, 'chuong-bao-hieu.ogg'),
  );
  console.log(`audio samples written to ${here}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
