//! The allocator's hot call without wasmtime's per-field marshalling.
//!
//! `choose(list<backend>, vm-request)` is called on every server create, with one `backend`
//! record per candidate. wasmtime's generated lowering writes such a list field by field, each
//! write re-fetching the guest memory (about 0.1 µs per backend, most of a call over 500
//! backends); the explanation list coming back is lifted the same way. This module lowers the
//! whole table with one borrow of guest memory and lifts the verdicts from one slice, using the
//! canonical ABI layout computed at compile time from the field types' own ABI descriptions.
//!
//! Type checking is delegated to the generated types (`[Backend]`, `Allocation`), so a
//! component whose `choose` has another signature is still refused at call setup. Only the
//! byte layout is ours; `plugins::tests::fast_abi_matches_native_policy_on_every_field` proves it
//! by comparing every verdict of a real component with the same policy run natively over a
//! table that exercises every field, flag and reject reason.
//!
//! It relies on wasmtime's `#[doc(hidden)]` canonical-ABI traits (the ones `#[derive(Lower)]`
//! implements), pinned at 48.0.8: re-check this file when wasmtime moves. It must not be used for
//! anything but the allocator's table and answer.

// The canonical-ABI traits are `unsafe` to implement: the contract is that `ABI` and
// `typecheck` describe what the lowering writes and the lifting reads. Both are taken from the
// generated types, and the layout below is computed from the same ABI descriptions.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;

use wasmtime::ValRaw;
use wasmtime::component::__internal::{
    CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext, LowerContext,
};
use wasmtime::component::{ComponentType, Lift, Lower};

use super::bindings::allocator::exports::cyclades::plugin::allocator_api::{
    Allocation, Backend, BackendFlags, Candidate, RejectReason, TemplateSet, Verdict,
};

/// Offset of a field of `abi` placed after `end`, and the new end.
const fn place(end: usize, abi: CanonicalAbiInfo) -> (usize, usize) {
    let align = abi.align32 as usize;
    let at = end.div_ceil(align) * align;
    (at, at + abi.size32 as usize)
}

/// Byte offsets of the `backend` record's fields, in WIT order.
struct BackendLayout {
    id: usize,
    mem_free: usize,
    mem_total: usize,
    disk_free: usize,
    disk_total: usize,
    cpu_total: usize,
    instances: usize,
    state: usize,
    templates: usize,
    size: usize,
}

const BACKEND: BackendLayout = {
    let (id, end) = place(0, <u32 as ComponentType>::ABI);
    let (mem_free, end) = place(end, <u64 as ComponentType>::ABI);
    let (mem_total, end) = place(end, <u64 as ComponentType>::ABI);
    let (disk_free, end) = place(end, <u64 as ComponentType>::ABI);
    let (disk_total, end) = place(end, <u64 as ComponentType>::ABI);
    let (cpu_total, end) = place(end, <u32 as ComponentType>::ABI);
    let (instances, end) = place(end, <u32 as ComponentType>::ABI);
    let (state, end) = place(end, <BackendFlags as ComponentType>::ABI);
    let (templates, end) = place(end, <TemplateSet as ComponentType>::ABI);
    let align = <Backend as ComponentType>::ALIGN32 as usize;
    BackendLayout {
        id,
        mem_free,
        mem_total,
        disk_free,
        disk_total,
        cpu_total,
        instances,
        state,
        templates,
        size: end.div_ceil(align) * align,
    }
};

// The computed layout is the one wasmtime derives for the generated type.
const _: () = assert!(BACKEND.size == <Backend as ComponentType>::SIZE32);
const _: () = assert!(<BackendFlags as ComponentType>::SIZE32 == 1);
const _: () = assert!(<TemplateSet as ComponentType>::SIZE32 == 2);

/// Flags in WIT order: bit `i` is the `i`-th flag.
pub(super) const STATE_FLAGS: [BackendFlags; 4] = [
    BackendFlags::OFFLINE,
    BackendFlags::DRAINED,
    BackendFlags::PUBLIC,
    BackendFlags::DEDICATED,
];
pub(super) const TEMPLATE_FLAGS: [TemplateSet; 9] = [
    TemplateSet::DISKLESS,
    TemplateSet::FILE,
    TemplateSet::SHAREDFILE,
    TemplateSet::PLAIN,
    TemplateSet::DRBD,
    TemplateSet::RBD,
    TemplateSet::BLOCKDEV,
    TemplateSet::EXT,
    TemplateSet::GLUSTER,
];

fn state_bits(flags: BackendFlags) -> u8 {
    STATE_FLAGS
        .iter()
        .enumerate()
        .fold(0, |bits, (i, f)| bits | (u8::from(flags.contains(*f)) << i))
}

fn template_bits(flags: TemplateSet) -> u16 {
    TEMPLATE_FLAGS.iter().enumerate().fold(0, |bits, (i, f)| {
        bits | (u16::from(flags.contains(*f)) << i)
    })
}

fn write(dst: &mut [u8], at: usize, bytes: &[u8]) {
    dst[at..at + bytes.len()].copy_from_slice(bytes);
}

fn encode_backend(b: &Backend, dst: &mut [u8]) {
    write(dst, BACKEND.id, &b.id.to_le_bytes());
    write(dst, BACKEND.mem_free, &b.mem_free_mb.to_le_bytes());
    write(dst, BACKEND.mem_total, &b.mem_total_mb.to_le_bytes());
    write(dst, BACKEND.disk_free, &b.disk_free_mb.to_le_bytes());
    write(dst, BACKEND.disk_total, &b.disk_total_mb.to_le_bytes());
    write(dst, BACKEND.cpu_total, &b.cpu_total.to_le_bytes());
    write(dst, BACKEND.instances, &b.instances.to_le_bytes());
    dst[BACKEND.state] = state_bits(b.state);
    write(
        dst,
        BACKEND.templates,
        &template_bits(b.templates).to_le_bytes(),
    );
}

/// The backend table as the `list<backend>` parameter of `choose`.
pub struct BackendTable<'a>(pub &'a [Backend]);

unsafe impl ComponentType for BackendTable<'_> {
    type Lower = [ValRaw; 2];
    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::POINTER_PAIR;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <[Backend] as ComponentType>::typecheck(ty, types)
    }
}

unsafe impl Lower for BackendTable<'_> {
    fn linear_lower_to_flat<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        _ty: InterfaceType,
        dst: &mut MaybeUninit<[ValRaw; 2]>,
    ) -> wasmtime::Result<()> {
        let size = self
            .0
            .len()
            .checked_mul(BACKEND.size)
            .ok_or_else(|| wasmtime::format_err!("backend table too large"))?;
        let ptr = cx.realloc(0, 0, <Backend as ComponentType>::ALIGN32, size)?;
        let memory = cx
            .as_slice_mut()
            .get_mut(ptr..ptr + size)
            .ok_or_else(|| wasmtime::format_err!("realloc returned out-of-bounds pointer"))?;
        for (backend, slot) in self.0.iter().zip(memory.chunks_exact_mut(BACKEND.size)) {
            slot.fill(0);
            encode_backend(backend, slot);
        }
        // Pointer pairs are always passed as 64-bit values (wasmtime's WRITEPTR64 rule).
        dst.write([ValRaw::i64(ptr as i64), ValRaw::i64(self.0.len() as i64)]);
        Ok(())
    }

    fn linear_lower_to_memory<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        offset: usize,
    ) -> wasmtime::Result<()> {
        // Not on the hot path (`choose` passes its table flat): the generated code is fine.
        self.0.linear_lower_to_memory(cx, ty, offset)
    }
}

/// Byte offsets of the `candidate` record: `backend-id`, then the `verdict` variant (its
/// discriminant, then its payload aligned to the widest case).
struct CandidateLayout {
    backend_id: usize,
    discriminant: usize,
    payload: usize,
    size: usize,
}

const CANDIDATE: CandidateLayout = {
    let (backend_id, end) = place(0, <u32 as ComponentType>::ABI);
    let (verdict, _) = place(end, <Verdict as ComponentType>::ABI);
    let payload_align = <f64 as ComponentType>::ALIGN32 as usize;
    CandidateLayout {
        backend_id,
        discriminant: verdict,
        payload: (verdict + 1).div_ceil(payload_align) * payload_align,
        size: <Candidate as ComponentType>::SIZE32,
    }
};

const _: () = assert!(<Verdict as ComponentType>::SIZE32 == 16);
const _: () = assert!(<RejectReason as ComponentType>::SIZE32 == 1);

/// Byte offsets of the `allocation` record: `chosen` (an `option<u32>`), `candidates` (a
/// pointer pair), `capacity-fallback`.
struct AllocationLayout {
    chosen: usize,
    chosen_value: usize,
    candidates: usize,
    fallback: usize,
}

const ALLOCATION: AllocationLayout = {
    let (chosen, end) = place(0, <Option<u32> as ComponentType>::ABI);
    let (candidates, end) = place(end, CanonicalAbiInfo::POINTER_PAIR);
    let (fallback, end) = place(end, <bool as ComponentType>::ABI);
    let align = <Allocation as ComponentType>::ALIGN32 as usize;
    assert!(end.div_ceil(align) * align == <Allocation as ComponentType>::SIZE32);
    AllocationLayout {
        chosen,
        chosen_value: chosen + 4,
        candidates,
        fallback,
    }
};

const REJECT_REASONS: [RejectReason; 6] = [
    RejectReason::Offline,
    RejectReason::Drained,
    RejectReason::NotDedicated,
    RejectReason::NotPublic,
    RejectReason::NoCapacity,
    RejectReason::NoTemplate,
];

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn bool_at(bytes: &[u8], at: usize, what: &str) -> wasmtime::Result<bool> {
    match bytes[at] {
        0 => Ok(false),
        1 => Ok(true),
        n => wasmtime::bail!("invalid {what}: {n}"),
    }
}

fn decode_candidate(bytes: &[u8]) -> wasmtime::Result<Candidate> {
    let payload = &bytes[CANDIDATE.payload..];
    let verdict = match bytes[CANDIDATE.discriminant] {
        0 => Verdict::Score(f64::from_le_bytes(
            payload[..8].try_into().expect("8 bytes"),
        )),
        1 => match REJECT_REASONS.get(usize::from(payload[0])) {
            Some(reason) => Verdict::Rejected(*reason),
            None => wasmtime::bail!("unexpected reject-reason discriminant: {}", payload[0]),
        },
        n => wasmtime::bail!("unexpected verdict discriminant: {n}"),
    };
    Ok(Candidate {
        backend_id: u32_at(bytes, CANDIDATE.backend_id),
        verdict,
    })
}

/// The `allocation` answer of `choose`, lifted in one pass over guest memory.
pub struct FastAllocation(pub Allocation);

unsafe impl ComponentType for FastAllocation {
    type Lower = <Allocation as ComponentType>::Lower;
    const ABI: CanonicalAbiInfo = <Allocation as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <Allocation as ComponentType>::typecheck(ty, types)
    }
}

unsafe impl Lift for FastAllocation {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        src: &Self::Lower,
    ) -> wasmtime::Result<Self> {
        // `result<allocation, _>` never fits in flat results; kept correct all the same.
        Allocation::linear_lift_from_flat(cx, ty, src).map(FastAllocation)
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        _ty: InterfaceType,
        bytes: &[u8],
    ) -> wasmtime::Result<Self> {
        let chosen = match bool_at(bytes, ALLOCATION.chosen, "option discriminant")? {
            false => None,
            true => Some(u32_at(bytes, ALLOCATION.chosen_value)),
        };
        let ptr = u32_at(bytes, ALLOCATION.candidates) as usize;
        let len = u32_at(bytes, ALLOCATION.candidates + 4) as usize;
        if !ptr.is_multiple_of(<Candidate as ComponentType>::ALIGN32 as usize) {
            wasmtime::bail!("list pointer is not aligned");
        }
        let memory = cx.memory();
        let list = len
            .checked_mul(CANDIDATE.size)
            .and_then(|size| memory.get(ptr..ptr.checked_add(size)?))
            .ok_or_else(|| wasmtime::format_err!("list pointer/length out of bounds of memory"))?;
        let mut candidates = Vec::with_capacity(len);
        for bytes in list.chunks_exact(CANDIDATE.size) {
            candidates.push(decode_candidate(bytes)?);
        }
        Ok(FastAllocation(Allocation {
            chosen,
            candidates,
            capacity_fallback: bool_at(bytes, ALLOCATION.fallback, "boolean value")?,
        }))
    }
}
