// CPU emulation of the v4 consumer decode (native/gemm/zipgemm.cu): lane mapping, plane-word rotation,
// scratch swizzle, outlier ranks and ldmatrix addressing, for one tile, against the host codec.
// Build: g++ -O2 -std=c++17 -Inative dev/v4_decode_emu.cpp native/gemm/host_codec.cpp -lpthread
#include <cstdio>
#include <cstring>
#include <vector>
#include <algorithm>
#include "gemm/host_codec.h"
using namespace zipserv;
static uint64_t sm64(uint64_t& s){uint64_t z=(s+=0x9e3779b97f4a7c15ull);z=(z^(z>>30))*0xbf58476d1ce4e5b9ull;z=(z^(z>>27))*0x94d049bb133111ebull;return z^(z>>31);}
static uint32_t prmt(uint32_t a, uint32_t b, uint32_t sel){uint64_t x=(uint64_t(b)<<32)|a;uint32_t r=0;for(int i=0;i<4;i++){uint32_t s=(sel>>(4*i))&7;r|=uint32_t((x>>(8*s))&0xff)<<(8*i);}return r;}
static int popc(uint32_t x){return __builtin_popcount(x);}
int main(){
  int fails=0;
  for(int base: {0,120,249}) for(int pct: {0,3,30}) {
    const int M=64,K=64; std::vector<uint16_t> w(M*K); uint64_t s=base*131+pct;
    for(auto&b:w){uint64_t r=sm64(s);int e=base+int(r%7);if(int((r>>8)%100)<pct)e=std::max(1,base-8-int((r>>16)%50));b=uint16_t(((r>>32)&0x8000)|(uint32_t(e)<<7)|((r>>40)&0x7f));}
    auto h=tca::encode(w.data(),M,K,base);
    // stage
    std::vector<uint8_t> stage(5888,0);
    memcpy(stage.data(),h.bitmaps.data(),1536); memcpy(stage.data()+1536,h.signMantissa.data(),4096);
    uint32_t len=h.outlierOffsets[1]-h.outlierOffsets[0]; memcpy(stage.data()+5632,h.outliers.data(),std::min(len,256u));
    // tables
    uint32_t tab[3][16][2];
    for(int p=0;p<3;p++)for(int n=0;n<16;n++){uint32_t lo=1u<<(7+p),hi=1u<<(23+p);uint32_t w0=((n&1)?lo:0)|((n&2)?hi:0),w1=((n&4)?lo:0)|((n&8)?hi:0);if(p==0){uint32_t eb=(uint32_t(base)<<7)|(uint32_t(base)<<23);w0+=eb;w1+=eb;}tab[p][n][0]=w0;tab[p][n][1]=w1;}
    std::vector<uint8_t> scratch(4*2048,0xee);
    const uint32_t* bm32=(const uint32_t*)stage.data();
    for(int wp=0;wp<4;wp++){
      int cnt[32],before[32]; uint32_t omv[32];
      for(int lane=0;lane<32;lane++){int tl=lane>>1,hh=lane&1,t=wp*16+tl;uint32_t x1=bm32[t*6+hh],x2=bm32[t*6+2+hh],x3=bm32[t*6+4+hh];omv[lane]=x1&x2&x3;cnt[lane]=popc(omv[lane]);int b4=0;for(int b=0;b<3;b++)if(b<wp){int u=(b*16+tl)*6+hh;b4+=popc(bm32[u]&bm32[u+2]&bm32[u+4]);}before[lane]=b4;}
      int red=0;for(int l=0;l<32;l++)red+=before[l];
      for(int lane=0;lane<32;lane++){
        int tl=lane>>1,hh=lane&1,cA=(tl>>1)&1,t=wp*16+tl; uint32_t scr=wp*2048;
        int incl=0;for(int l=0;l<=lane;l++)incl+=cnt[l]; uint32_t k=red+incl-cnt[lane];
        uint32_t x1=bm32[t*6+hh],x2=bm32[t*6+2+hh],x3=bm32[t*6+4+hh];
        uint32_t rot=cA?0x1032:0x3210;
        uint32_t y1=prmt(x1,0,rot),y2=prmt(x2,0,rot),y3=prmt(x3,0,rot);
        uint32_t sA[4],sB[4]; memcpy(sA,&stage[1536+t*64+hh*32+cA*16],16); memcpy(sB,&stage[1536+t*64+hh*32+(1-cA)*16],16);
        for(int i=0;i<4;i++){
          int c=i<2?cA:1-cA; int r=4*hh+2*c+(i&1); uint32_t st=scr+tl*128+((r^(tl&1))*16);
          uint32_t w1=y1>>(8*i),w2=y2>>(8*i),w3=y3>>(8*i);
          uint32_t l1=(w1<<3)&0x78,l2=(w2<<3)&0x78,l3=(w3<<3)&0x78,h1=(w1>>1)&0x78,h2=(w2>>1)&0x78,h3=(w3>>1)&0x78;
          auto T=[&](int p,uint32_t off,int q){return tab[p][off/8][q];};
          uint32_t s0=(i<2?sA:sB)[(i&1)*2], s1=(i<2?sA:sB)[(i&1)*2+1];
          uint32_t o[4];
          o[0]=(prmt(s0,0,0x1100)&0x807F807F)|(T(0,l1,0)+T(1,l2,0)+T(2,l3,0));
          o[1]=(prmt(s0,0,0x3322)&0x807F807F)|(T(0,l1,1)+T(1,l2,1)+T(2,l3,1));
          o[2]=(prmt(s1,0,0x1100)&0x807F807F)|(T(0,h1,0)+T(1,h2,0)+T(2,h3,0));
          o[3]=(prmt(s1,0,0x3322)&0x807F807F)|(T(0,h1,1)+T(1,h2,1)+T(2,h3,1));
          memcpy(&scratch[st],o,16);
        }
        uint32_t om=omv[lane];
        while(om){int b=__builtin_ctz(om);om&=om-1;uint32_t e=k<256?stage[5632+k]:(k<len?h.outliers[h.outlierOffsets[0]+k]:0);k++;uint32_t sb=stage[1536+t*64+hh*32+b];uint32_t v=((sb&0x80)<<8)|(e<<7)|(sb&0x7f);uint16_t v16=v;memcpy(&scratch[scr+tl*128+hh*64+2*(uint32_t(b)^(uint32_t(tl&1)<<3))],&v16,2);}
      }
    }
    // ldmatrix emulation: A fragment of step s for warp wp: matrix q row r8 at aOff
    int bad=0;
    for(int wp=0;wp<4;wp++)for(int s2=0;s2<4;s2++)for(int lane=0;lane<32;lane++){int q=lane>>3,r8=lane&7;uint32_t addr=wp*2048+q*128+((r8^(q&1))*16)+s2*512;
      // matrix q: rows (q&1)*8+r8 of band, cols s2*16+(q>>1)*8 .. +7
      int row=wp*16+(q&1)*8+r8; for(int c=0;c<8;c++){uint16_t v;memcpy(&v,&scratch[addr+2*c],2);int col=s2*16+(q>>1)*8+c; if(v!=w[row*K+col]){bad++; if(bad<6)printf("  row %d col %d got %04x want %04x\n",row,col,v,w[row*K+col]);}}}
    printf("expBase %3d outliers %2d%% (segment %u B): %d wrong of 4096\n",base,pct,len,bad); fails+=bad!=0;
  }
  return fails;
}
